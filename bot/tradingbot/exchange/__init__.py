"""Order execution: the Exchange protocol, the paper exchange and a resilient wrapper."""

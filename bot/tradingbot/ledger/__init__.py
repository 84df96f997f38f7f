"""The order ledger in PostgreSQL: migrations, the fencing epoch and fenced order writes."""

"""The ConfigMap ``<name>-config-<hash>`` (pure): the bot's config file, immutable, named by its hash."""

from __future__ import annotations

from tradingbot_operator.children.meta import JSON, ChildKind, Owner, bot_labels, metadata
from tradingbot_operator.names import CONFIG_KEY

KIND = ChildKind(kind="ConfigMap", api="/api/v1", plural="configmaps")
"""Immutable: never patched (a new config is a new name)."""


def config_map_name(bot: str, config_hash: str) -> str:
    """``<bot>-config-<hash>``: immutable, one per rendered config."""
    return f"{bot}-config-{config_hash}"


def config_map(owner: Owner, config_hash: str, data: str) -> JSON:
    """The immutable ConfigMap ``<name>-config-<hash>`` with the bot's config under ``config.yaml``."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(owner, config_map_name(owner.name, config_hash), bot_labels(owner.name)),
        "immutable": True,
        "data": {CONFIG_KEY: data},
    }


def config_hash_of(bot: str, config_map_name_: str) -> str | None:
    """The hash part of a ConfigMap named ``<bot>-config-<hash>``, else None."""
    prefix = f"{bot}-config-"
    return config_map_name_[len(prefix) :] if config_map_name_.startswith(prefix) else None

"""Revision and config hashing (pure): what makes two TradingBot specs the same bot.

A **revision** is a hash of everything that changes the bot's behaviour: the image, the rendered
trading config, the pod template and the database Secret reference (it becomes the pod's
``PLOY_DATABASE_URL``). ``replicas``, ``paused`` and ``rollout`` are NOT part of it: changing them
never starts a rollout (replicas are scaled in place). Hashes are the first 10 hex digits of SHA-256
over a canonical JSON encoding, so they are stable across processes and Python versions.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

import yaml

from tradingbot_operator.model import TradingBotSpec

HASH_LENGTH = 10
# Bumped only when the hash inputs change on purpose (that rolls out every bot once).
REVISION_SCHEME = "ploy-revision-v1"


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def trading_config(spec: TradingBotSpec) -> dict[str, Any]:
    """The bot's config file content as a mapping: ``{"trading": <spec.trading, camelCase>}``, plus the
    feed's keys (``feed``, ``replayRecording``, ``polymarketWsUrl``) when ``spec.feed`` is given.

    Decimals stay the strings the user wrote (``"0.01"``, ``"0.010"``: the contract's decimals keep
    their digits); defaults are filled in, so the bot sees every value explicitly. The shape is the one
    ``tradingbot.config.settings`` reads, with the same models (:mod:`trading_config`).
    """
    config: dict[str, Any] = {
        "trading": spec.trading.model_dump(mode="json", by_alias=True, exclude_none=True)
    }
    if spec.feed is not None:
        config.update(spec.feed.config_keys())
    return config


def render_config(spec: TradingBotSpec) -> str:
    """The YAML text of the bot's config file (key ``config.yaml`` of the hashed ConfigMap)."""
    # Every pass renders it a few times (revision, ConfigMap name and data); PyYAML's emitter is pure
    # Python and was a tenth of the operator's CPU at 1,000 bots, so the text is kept per content.
    return _yaml_text(json.dumps(trading_config(spec), ensure_ascii=False))


@functools.lru_cache(maxsize=4096)
def _yaml_text(config_json: str) -> str:
    # JSON keeps the key order and the values' types (strings, numbers, booleans, null) exactly.
    return yaml.safe_dump(json.loads(config_json), sort_keys=False, allow_unicode=True, width=1000)


def config_hash(spec: TradingBotSpec) -> str:
    """10 hex digits naming the immutable ConfigMap ``<name>-config-<hash>`` that holds the config."""
    return _short_hash(render_config(spec))


def revision_inputs(spec: TradingBotSpec) -> dict[str, Any]:
    """The values the revision hashes (for debugging: ``ploy`` can print why two revisions differ)."""
    return {
        "scheme": REVISION_SCHEME,
        "image": spec.image,
        "config": render_config(spec),
        "podTemplate": spec.pod_template.model_dump(mode="json", by_alias=True, exclude_none=True),
        "database": spec.database.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def revision(spec: TradingBotSpec) -> str:
    """The spec's revision: 10 lowercase hex digits, equal for specs that run the same bot."""
    canonical = json.dumps(revision_inputs(spec), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _short_hash(canonical)

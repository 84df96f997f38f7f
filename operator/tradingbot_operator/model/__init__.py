"""The TradingBot resource (``ploy.dev/v1alpha1``) as pydantic models: the one source of the CRD schema."""

from trading_config import MarketSpec, RiskSpec, StrategySpec, TradingSpec
from tradingbot_operator.model.analysis import (
    AnalysisQuery,
    AnalysisStatus,
    Measurement,
    MeasurementResult,
    OnInconclusive,
    SuccessCondition,
)
from tradingbot_operator.model.enums import Color, ConditionType, Phase, RolloutResult, RolloutStage
from tradingbot_operator.model.feed import FeedSpec
from tradingbot_operator.model.pod_template import PodTemplateSpec
from tradingbot_operator.model.spec import (
    DatabaseSpec,
    MigrationSpec,
    RolloutSpec,
    SecretKeyRef,
    TradingBotSpec,
)
from tradingbot_operator.model.status import (
    Condition,
    HandledActions,
    LastRollout,
    RolloutProgress,
    Standby,
    TradingBotStatus,
)

GROUP = "ploy.dev"
VERSION = "v1alpha1"
KIND = "TradingBot"
PLURAL = "tradingbots"
SINGULAR = "tradingbot"
SHORT_NAMES = ("tb",)
CATEGORIES = ("ploy", "all")

__all__ = [
    "CATEGORIES",
    "GROUP",
    "KIND",
    "PLURAL",
    "SHORT_NAMES",
    "SINGULAR",
    "VERSION",
    "AnalysisQuery",
    "AnalysisStatus",
    "Color",
    "Condition",
    "ConditionType",
    "DatabaseSpec",
    "FeedSpec",
    "HandledActions",
    "LastRollout",
    "MarketSpec",
    "Measurement",
    "MeasurementResult",
    "MigrationSpec",
    "OnInconclusive",
    "Phase",
    "PodTemplateSpec",
    "RiskSpec",
    "RolloutProgress",
    "RolloutResult",
    "RolloutSpec",
    "RolloutStage",
    "SecretKeyRef",
    "Standby",
    "StrategySpec",
    "SuccessCondition",
    "TradingBotSpec",
    "TradingBotStatus",
    "TradingSpec",
]

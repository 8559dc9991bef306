"""Stages: one file per generation technique."""

from .base import ParseResult, Stage, StageContext
from .conversation import ConversationConfig, ConversationStage
from .generate import GenerateConfig, GenerateStage

__all__ = [
    "Stage",
    "StageContext",
    "ParseResult",
    "GenerateStage",
    "GenerateConfig",
    "ConversationStage",
    "ConversationConfig",
]

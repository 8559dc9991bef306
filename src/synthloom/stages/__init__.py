"""Stages: one file per generation technique."""

from .base import ParseResult, Stage, StageBase, StageContext
from .conversation import ConversationConfig, ConversationStage
from .generate import GenerateConfig, GenerateStage
from .judge import JudgeConfig, JudgeStage, parse_score

__all__ = [
    "Stage",
    "StageBase",
    "StageContext",
    "ParseResult",
    "GenerateStage",
    "GenerateConfig",
    "ConversationStage",
    "ConversationConfig",
    "JudgeStage",
    "JudgeConfig",
    "parse_score",
]

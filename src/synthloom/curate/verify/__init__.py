"""Verification by execution: a sandbox for untrusted code and the `code` curation step."""

from .code import CodeCheckConfig, CodeCheckStage, extract_code
from .sandbox import Sandbox, SandboxLimits, SandboxResult

__all__ = ["CodeCheckConfig", "CodeCheckStage", "Sandbox", "SandboxLimits", "SandboxResult", "extract_code"]

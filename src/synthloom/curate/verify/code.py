"""`code`: run a record's generated code and its tests in a sandbox; keep it only if they pass.

The code usually comes wrapped in Markdown fences and prose, so the Python fenced blocks are
extracted (or the whole text, if it has no fences and parses as a program). Code and tests run
as one file, `code + "\n\n" + tests`, with `python3 -I`.
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
import sys
import textwrap
import weakref
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...recipe.model import check_identifier
from ...record import Record, Rejected
from ...stages.base import StageBase, StageContext
from ...stages.common import fingerprint_of
from ...templates import PromptTemplate
from .sandbox import Sandbox, SandboxLimits, SandboxResult

__all__ = ["CodeCheckStage", "CodeCheckConfig", "extract_code"]

FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+.-]*)[^\n]*\n(?P<body>.*?)(?:^[ \t]*(?P=fence)[ \t]*$|\Z)",
                   re.M | re.S)
PYTHON_TAGS = {"", "python", "py", "python3", "py3"}
FRAME = re.compile(r'File "(?:[^"]*/)?main\.py", line (\d+)')
STDERR_CHARS = 1000
DETAIL_CHARS = 200


class CodeCheckConfig(BaseModel):
    """Recipe fields of a `code` curation step."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "code"
    name: str
    code: str = Field(min_length=1, description="a template giving the code, e.g. '{{ solution }}'")
    tests: str | None = Field(None, description="a template giving the tests; none: they are inside the code")
    language: Literal["python"] = "python"
    timeout: float = Field(10.0, gt=0, le=600, description="wall seconds before the run is killed")
    cpu_seconds: int = Field(10, ge=1, le=600)
    memory_mb: int = Field(512, ge=64, le=65536, description="address space of each process")
    max_processes: int = Field(32, ge=4, le=4096, description="processes of one run, the sandbox's own included")
    keep_failed: bool = Field(False, description="keep records whose tests fail, with passed: false")
    min_asserts: int = Field(1, ge=0, le=1000, description="fewer asserts in code + tests: rejected, as nothing checked it")
    isolation: Literal["auto", "bwrap", "unshare", "none"] = "auto"

    _check_name = field_validator("name")(check_identifier)


def extract_code(text: str) -> str:
    """The Python in a model's answer: its Python (or untagged) fenced blocks joined, or the
    whole text if it has no fences and parses as more than bare expressions; else ''."""
    blocks = [textwrap.dedent(m["body"]).strip("\n") for m in FENCE.finditer(text)
              if m["lang"].lower() in PYTHON_TAGS]
    if any(FENCE.finditer(text)):
        return "\n\n".join(b for b in blocks if b.strip())
    try:
        module = ast.parse(text)
    except (SyntaxError, ValueError):
        return ""
    return text.strip() if any(not isinstance(node, ast.Expr) for node in module.body) else ""


def count_asserts(module: ast.Module) -> int:
    """Assert statements plus unittest-style `self.assertX(...)` calls."""
    return sum(isinstance(node, ast.Assert) or (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                                                 and node.func.attr.startswith("assert"))
               for node in ast.walk(module))


def failure_line(stderr: str) -> str:
    """One line from a traceback: the exception, and the program line that raised it."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    exception = next((line.strip() for line in reversed(lines) if not line.startswith((" ", "\t"))), "")
    where = ""
    for i in range(len(lines) - 1, -1, -1):
        frame = FRAME.search(lines[i])
        if frame:
            source = lines[i + 1].strip() if i + 1 < len(lines) and not FRAME.search(lines[i + 1]) else ""
            where = f" at line {frame[1]}" + (f": {source}" if source and not set(source) <= set("^~ ") else "")
            break
    return shorten(f"{exception or 'exited with an error'}{where}")


def shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


class CodeCheckStage(StageBase):
    """Runs the record's code with its tests in a sandbox; no LLM call."""

    Config = CodeCheckConfig

    def __init__(self, config: CodeCheckConfig, context: StageContext = StageContext()):
        self.config = config
        self.name = config.name
        self.code = PromptTemplate(config.code)
        self.tests = PromptTemplate(config.tests) if config.tests else None
        self.inputs = self.code.variables | (self.tests.variables if self.tests else frozenset())
        self.outputs = (config.name,)
        self.limits = SandboxLimits(timeout=config.timeout, cpu_seconds=config.cpu_seconds,
                                    memory_mb=config.memory_mb, max_processes=config.max_processes)
        self.fingerprint = fingerprint_of(config.code, config.tests, config.language, repr(self.limits))
        self.sandbox = Sandbox(self.limits, config.isolation)
        self.python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        self._limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()

    def program(self, record: Record) -> tuple[str, str, str]:
        """The extracted code, the extracted tests, and the file that runs them together."""
        values = record.variables()
        code = extract_code(self.code.render(values))
        tests = extract_code(self.tests.render(values)) if self.tests else ""
        return code, tests, code + "\n\n" + tests + "\n" if tests else code + "\n"

    async def render(self, record: Record) -> dict[str, Any] | Rejected:
        """Run the record's program in the sandbox; its outcome, or the reason it is rejected."""
        code, tests, program = self.program(record)
        if not code.strip():
            return Rejected("no_code", f"{self.name}: no Python code found in the answer")
        if self.tests is not None and not tests.strip():
            return Rejected("no_tests", f"{self.name}: no Python code found in the tests")
        try:
            module = ast.parse(program)
        except SyntaxError as exc:
            return Rejected("syntax_error", shorten(f"{exc.msg} at line {exc.lineno}: {(exc.text or '').strip()}"))
        asserts = count_asserts(module)
        if asserts < self.config.min_asserts:
            return Rejected("no_tests", f"{self.name}: {asserts} assert(s) in the code and tests, {self.config.min_asserts} needed")
        async with self._semaphore():
            result = await self.sandbox.run({"main.py": program}, [self.python, "-I", "-B", "main.py"])
        outcome = self.outcome(result, asserts)
        if result.passed or self.config.keep_failed:
            return {self.name: outcome}
        reason, detail = self.verdict(result)
        return Rejected(reason, detail, fields={self.name: outcome})

    def outcome(self, result: SandboxResult, asserts: int) -> dict[str, Any]:
        stderr = result.stderr[-STDERR_CHARS:]
        return {"passed": result.passed, "returncode": result.returncode, "timed_out": result.timed_out,
                "signal": result.signal, "stderr": stderr, "seconds": result.seconds,
                "isolation": result.isolation, "asserts": asserts}

    def verdict(self, result: SandboxResult) -> tuple[str, str]:
        """The rejection reason and a one-line detail for a run that did not pass."""
        if result.timed_out:
            return "timeout", f"no exit within {self.config.timeout:g}s (killed)"
        if result.signal == "SIGXCPU":
            return "cpu_limit", f"killed by SIGXCPU after {self.config.cpu_seconds}s of CPU"
        if result.signal:
            return "killed", f"killed by {result.signal}"
        line = failure_line(result.stderr)
        if line.startswith("MemoryError"):
            return "memory_limit", shorten(f"{line} (limit {self.config.memory_mb} MB)")
        return "tests_failed", line

    def parse(self, response: Any, record: Record) -> dict[str, Any]:  # never called: render runs the code
        return {}

    def _semaphore(self) -> asyncio.Semaphore:
        """At most one sandbox per core at once, per event loop (a Semaphore binds to one loop)."""
        loop = asyncio.get_running_loop()
        if loop not in self._limits:
            self._limits[loop] = asyncio.Semaphore(os.cpu_count() or 1)
        return self._limits[loop]

"""The `code` curation step: extraction from model answers, and its verdicts on records."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from synthloom.curate.verify import CodeCheckConfig, CodeCheckStage, extract_code
from synthloom.record import Record, Rejected

ANSWER = '''Sure! Here is the function:

```python
def is_palindrome(text):
    cleaned = text.lower()
    return cleaned == cleaned[::-1]
```

And some tests:

```py
assert is_palindrome("Level")
assert not is_palindrome("python")
```
This checks both cases.'''


def stage(**config) -> CodeCheckStage:
    return CodeCheckStage(CodeCheckConfig(**{"name": "verified", "code": "{{ solution }}", **config}))


def check(step: CodeCheckStage, **fields):
    return asyncio.run(step.render(Record(0, "r-0", {}, dict(fields))))


def test_extracts_the_python_blocks_and_drops_the_prose():
    code = extract_code(ANSWER)
    assert code.startswith("def is_palindrome(text):")
    assert 'assert not is_palindrome("python")' in code
    assert "Sure" not in code and "This checks" not in code


def test_extraction_skips_other_languages_and_keeps_untagged_and_unclosed_blocks():
    text = "Run:\n```bash\nrm -rf /\n```\n```\nx = 1\n```\nThen\n~~~python\n    y = x + 1\n"
    assert extract_code(text) == "x = 1\n\ny = x + 1"


def test_unfenced_text_is_used_only_if_it_is_a_program():
    assert extract_code("def f():\n    return 1\n") == "def f():\n    return 1"
    assert extract_code("I am sorry, I cannot write that function.") == ""
    assert extract_code("hello") == ""  # a bare name parses, but is not a program
    assert extract_code("```bash\nls\n```") == ""


def test_passing_code_adds_its_outcome():
    result = check(stage(), solution=ANSWER)
    assert not isinstance(result, Rejected), result
    outcome = result["verified"]
    assert outcome["passed"] is True and outcome["returncode"] == 0
    assert outcome["asserts"] == 2
    assert outcome["isolation"] in ("bwrap", "unshare")
    assert outcome["seconds"] > 0


def test_a_failing_test_rejects_with_the_assertion():
    wrong = ANSWER.replace("cleaned == cleaned[::-1]", "cleaned == cleaned")
    result = check(stage(), solution=wrong)
    assert isinstance(result, Rejected)
    assert result.reason == "tests_failed"
    assert result.detail == 'AssertionError at line 6: assert not is_palindrome("python")'
    assert result.fields["verified"]["passed"] is False
    assert "AssertionError" in result.fields["verified"]["stderr"]


def test_keep_failed_keeps_the_record_with_passed_false():
    wrong = ANSWER.replace("cleaned == cleaned[::-1]", "cleaned == cleaned")
    result = check(stage(keep_failed=True), solution=wrong)
    assert result["verified"]["passed"] is False
    assert result["verified"]["returncode"] == 1


def test_separate_tests_run_after_the_code():
    step = stage(tests="{{ tests }}")
    solution = "```python\ndef double(x):\n    return 2 * x\n```"
    assert check(step, solution=solution, tests="```python\nassert double(4) == 8\n```")["verified"]["passed"]
    failed = check(step, solution=solution, tests="assert double(4) == 9, 'double(4)'")
    assert failed.reason == "tests_failed" and failed.detail.startswith("AssertionError: double(4) at line")
    assert step.inputs == {"solution", "tests"}


def test_no_code_and_no_tests_and_bad_syntax_are_rejected_without_running():
    assert check(stage(), solution="I cannot help with that.").reason == "no_code"
    assert check(stage(), solution="```python\ndef f(x):\n    return x\n```").reason == "no_tests"
    bad = check(stage(), solution="```python\ndef f(x:\n    return x\n```")
    assert bad.reason == "syntax_error" and "line 1" in bad.detail
    assert check(stage(min_asserts=0), solution="```python\nx = 1\n```")["verified"]["passed"]
    assert check(stage(min_asserts=2), solution=ANSWER.replace('assert is_palindrome("Level")', "")).reason == "no_tests"


def test_a_run_past_its_timeout_is_rejected_as_timeout():
    result = check(stage(timeout=1), solution="```python\nimport time\ntime.sleep(60)\nassert True\n```")
    assert result.reason == "timeout"
    assert result.fields["verified"]["timed_out"] is True


def test_the_cpu_and_memory_limits_give_their_own_reasons():
    spin = check(stage(cpu_seconds=1, timeout=20), solution="```python\nwhile True:\n    pass\nassert False\n```")
    assert spin.reason == "cpu_limit"
    hog = check(stage(memory_mb=128), solution="```python\nx = bytearray(2**32)\nassert x\n```")
    assert hog.reason == "memory_limit" and hog.detail.startswith("MemoryError")


def test_the_secrets_of_the_runner_are_not_in_the_run(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    code = "```python\nimport os\nassert 'OPENAI_API_KEY' not in os.environ, os.environ.get('OPENAI_API_KEY')\n```"
    assert check(stage(), solution=code)["verified"]["passed"]


def test_records_run_concurrently_under_the_semaphore():
    step = stage()
    code = "```python\nimport time\ntime.sleep(0.5)\nassert True\n```"

    async def many() -> list:
        records = [Record(i, f"r-{i}", {}, {"solution": code}) for i in range(4)]
        return await asyncio.gather(*(step.render(r) for r in records))

    results = asyncio.run(many())
    assert all(r["verified"]["passed"] for r in results)
    asyncio.run(many())  # a second event loop gets its own semaphore


def test_stage_surface():
    step = stage()
    assert step.name == "verified" and step.outputs == ("verified",)
    assert step.inputs == {"solution"}
    assert step.parse(None, Record(0, "r-0", {})) == {}
    assert step.fingerprint != stage(timeout=3).fingerprint
    with pytest.raises(ValidationError):
        CodeCheckConfig(name="verified", code="{{ solution }}", language="rust")
    with pytest.raises(ValidationError):
        CodeCheckConfig(name="verified", code="{{ solution }}", isolation="docker")

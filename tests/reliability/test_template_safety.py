"""Templates: values are data, the sandbox holds, and no template can hang or exhaust memory.

- Entity values and LLM output that look like Jinja (`{{ 7*7 }}`, `{% for %}`, attribute
  chains to Python internals) are inserted as text: the literal appears in the prompt, never 49,
  at any stage (a stage's output in the next stage's prompt is never rendered a second time).
- A recipe template that reads internals (`x.__class__`, `self._TemplateReference__context`) or
  loads other templates is a recipe error at validate time: exit 2, one line naming the stage and
  field. An access the sandbox can only see while rendering (an attribute named by a slot value)
  rejects the record (`render_error`), naming the stage.
- Work and size are bounded: `'x' * 100000000`, `range(10**9)`, nested loops, huge powers, a macro
  that calls itself twice, padding to a billion characters... stop within seconds with a
  TemplateRenderError (MemoryError never, a hang never); in a run they reject the record with
  `render_error` and the limit in the detail.
"""

from __future__ import annotations

import json
import re
import time
import tracemalloc
from pathlib import Path

import pytest
from jinja2 import UndefinedError
from jinja2.exceptions import SecurityError

from synthloom.api import run
from synthloom.backends.fake import FakeBackend
from synthloom.cli import main
from synthloom.runner import RunOptions
from synthloom.templates import MAX_RENDERED_CHARS, PromptTemplate, TemplateRenderError
from tests.conftest import run_cli

PAYLOADS = [
    "{{ 7*7 }}",
    "{{7*7}}",
    "{% for x in range(3) %}x{% endfor %}",
    "{% for %}",
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "self._TemplateReference__context",
    "{{ lipsum(10**6) }}",
    "{{ 'x' * 100000000 }}",
    "{% include 'x' %}",
    "{% raw %}{{ 7*7 }}",
    "{# not a comment",
    "}} {% endfor %} {{",
]


def untagged(text: str) -> str:
    """The fake's echo without its request-hash tags, which may hold the digits 49."""
    return re.sub(r"\[fake [0-9a-f]{8}\] ", "", text)


def literal_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


def cli(*argv: str) -> tuple[int, str]:
    """main() in-process; its exit code and stderr (pytest's capsys is per test, this is per call)."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(list(argv))
    return code, err.getvalue()


# --- values are data ---

@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_value_is_inserted_as_text(payload):
    assert PromptTemplate("Summary: {{ s }}.").render({"s": payload}) == f"Summary: {payload}."
    assert PromptTemplate("{{ xs|join(' / ') }}").render({"xs": [payload, payload]}) == f"{payload} / {payload}"
    assert PromptTemplate("{{ r.user }}|{{ r['assistant'] }}").render({"r": {"user": payload, "assistant": payload}}) \
        == f"{payload}|{payload}"
    assert PromptTemplate("{% for x in xs %}[{{ x }}]{% endfor %}").render({"xs": [payload]}) == f"[{payload}]"
    assert PromptTemplate("{{ s ~ '!' }}").render({"s": payload}) == f"{payload}!"


def test_values_near_the_limit_pass_and_over_it_are_refused_quickly():
    assert len(PromptTemplate("{{ s }}").render({"s": "y" * (MAX_RENDERED_CHARS - 10)})) == MAX_RENDERED_CHARS - 10
    started = time.monotonic()
    with pytest.raises(TemplateRenderError, match="over the 1,000,000 character limit"):
        PromptTemplate("Text: {{ s }}").render({"s": "y" * 10_000_000})  # a 10 MB LLM answer
    assert time.monotonic() - started < 2


def test_deeply_nested_values_are_a_render_error_not_a_crash():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(TemplateRenderError, match="RecursionError|nested"):
        PromptTemplate("{{ v }}").render({"v": deep})
    assert PromptTemplate("{{ v|length }}").render({"v": deep}) == "1"


def test_entity_values_and_llm_output_are_never_rendered_twice(tmp_path):
    """Stage 2's prompt holds stage 1's output (which repeats the payload) as text, at every hop."""
    (tmp_path / "lines.txt").write_text("\n".join(PAYLOADS[:6]) + "\n", encoding="utf-8")
    items = ", ".join(json.dumps(p) for p in PAYLOADS)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""\
name: data
entities:
  inline: [{items}]
  from_file: {{file: lines.txt}}
slots:
  a: {{from: inline, sampler: coverage}}
  b: from_file
stages:
  - name: first
    prompt: "A={{{{ a }}}} B={{{{ b }}}}"
  - name: second
    system: "Earlier: {{{{ first }}}}"
    prompt: "Again: {{{{ first }}}} and {{{{ a }}}}"
  - name: third
    prompt: "Last: {{{{ second }}}}"
""", encoding="utf-8")
    fake = FakeBackend()
    result = run(recipe, len(PAYLOADS), tmp_path / "out", backend=fake, options=RunOptions(sequential=True))
    assert result.kept == len(PAYLOADS) and result.rejected == 0
    rows = literal_rows(tmp_path / "out" / "dataset.jsonl")
    assert sorted(r["a"] for r in rows) == sorted(PAYLOADS)
    for row in rows:
        for stage in ("first", "second", "third"):
            assert row["a"] in row[stage] and row["b"] in row[stage], (stage, row)
        assert "49" not in untagged(row["third"])
    prompts = [m["content"] for request in fake.requests for m in request.messages]
    assert all("49" not in untagged(p) for p in prompts)
    for payload in PAYLOADS:
        assert sum(payload in p for p in prompts) >= 4  # first, second (system and user), third


def test_hierarchical_json_plan_is_data(tmp_path):
    """tinystories_hierarchical's shape: stage 1 answers JSON whose strings are Jinja, stage 2 reads its fields."""
    plan = {"summary": "{{ 7*7 }} and {% for x in range(3) %}x{% endfor %} happen.",
            "sentence": "{{ cycler.__init__.__globals__ }} was said."}
    recipe = tmp_path / "r.yaml"
    recipe.write_text("""\
name: plan
entities: {noun: [cat]}
slots: {noun: noun}
stages:
  - name: plan
    prompt: "Plan a story about {{ noun }}."
    schema:
      type: object
      properties: {summary: {type: string, minLength: 5}, sentence: {type: string, minLength: 5}}
      required: [summary, sentence]
  - name: story
    prompt: "Summary: {{ plan.summary }}\\nSentence: {{ plan['sentence'] }}\\nStory:"
""", encoding="utf-8")
    fake = FakeBackend(replies=[json.dumps(plan)])
    result = run(recipe, 1, tmp_path / "out", backend=fake, options=RunOptions(sequential=True))
    assert result.kept == 1
    story_prompt = fake.requests[1].messages[-1]["content"]
    assert story_prompt == f"Summary: {plan['summary']}\nSentence: {plan['sentence']}\nStory:"
    row = literal_rows(tmp_path / "out" / "dataset.jsonl")[0]
    assert row["plan"] == plan and plan["summary"] in row["story"] and "49" not in untagged(row["story"])


def test_constraint_feedback_and_code_check_insert_values_as_text(tmp_path):
    """Curation steps render templates too: the words a story missed, the code it holds."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("""\
name: checks
entities: {word: ["{{ 7*7 }}"]}
slots: {word: word}
stages:
  - name: story
    prompt: "A story using {{ word }}."
curate:
  - {kind: constraints, name: uses, field: story, words: [word], tries: 2}
""", encoding="utf-8")
    fake = FakeBackend(replies=["no words here", "still nothing"])
    result = run(recipe, 1, tmp_path / "out", backend=fake, options=RunOptions(sequential=True))
    assert result.rejected == 1
    retry = fake.requests[1].messages[-1]["content"]
    assert "{{ 7*7 }}" in retry and "49" not in untagged(retry)

    from synthloom.curate.verify.code import CodeCheckConfig, CodeCheckStage
    from synthloom.record import Record

    check = CodeCheckStage(CodeCheckConfig(name="verified", code="{{ solution }}", tests="assert f() == {{ expected }}"))
    answer = "```python\ndef f():\n    return '{{ 7*7 }}'\n```"
    code, tests, _ = check.program(Record(0, "r-0", {"expected": "'{{ 7*7 }}'"}, fields={"solution": answer}))
    assert code == "def f():\n    return '{{ 7*7 }}'" and tests == "assert f() == '{{ 7*7 }}'"


def test_topic_tree_nodes_are_data(tmp_path):
    """Subtopics the LLM names become entity items, and go into prompts as text."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("""\
name: tree
entities:
  topic: {tree: {root: "Root {{ 7*7 }}", depth: 1, degree: 3}}
slots: {topic: {from: topic, sampler: coverage}}
stages:
  - name: text
    prompt: "Explain {{ topic }}."
""", encoding="utf-8")
    fake = FakeBackend(replies=["{{ 7*7 }} topic\n{% for x in y %} topic\nself._TemplateReference__context"])
    result = run(recipe, 3, tmp_path / "out", backend=fake, options=RunOptions(sequential=True))
    assert result.kept == 3
    assert "Root {{ 7*7 }}" in fake.requests[0].messages[-1]["content"]  # the root went into the tree prompt as text
    topics = [r["topic"] for r in literal_rows(tmp_path / "out" / "dataset.jsonl")]
    assert sorted(topics) == sorted(["{{ 7*7 }} topic", "{% for x in y %} topic", "self._TemplateReference__context"])
    assert [r.messages[-1]["content"] for r in fake.requests[1:]] == [f"Explain {topic}." for topic in topics]


# --- the sandbox ---

UNSAFE = {
    "{{ ''.__class__.__mro__ }}": "'__class__'",
    "{{ noun.__class__.__mro__[1].__subclasses__() }}": "'__class__'",
    "{{ cycler.__init__.__globals__ }}": "'__init__'",
    "{{ self._TemplateReference__context }}": "'_TemplateReference__context'",
    "{{ lipsum.__globals__['os'] }}": "'__globals__'",
    "{{ (noun|attr('__class__')) }}": "'__class__'",
    "{% include 'secrets.txt' %}": "include, extend or import",
    "{% import 'x' as y %}": "include, extend or import",
}


@pytest.mark.parametrize("template", sorted(UNSAFE))
def test_sandbox_refuses_internals_at_render(template):
    """Even without the check at validate time, the sandbox refuses while rendering."""
    compiled = PromptTemplate(template)
    assert compiled.refused is not None and UNSAFE[template] in compiled.refused[0]
    with pytest.raises((SecurityError, TemplateRenderError, UndefinedError)):
        compiled.render({"noun": "cat"})


@pytest.mark.parametrize("template", sorted(UNSAFE))
@pytest.mark.parametrize("field", ["prompt", "system"])
def test_unsafe_recipe_template_is_a_recipe_error(template, field, tmp_path):
    prompt = template if field == "prompt" else "Write about {{ noun }}."
    system = f"\n    system: {json.dumps(template)}" if field == "system" else ""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""\
name: unsafe
entities: {{noun: [cat, dog]}}
slots: {{noun: noun}}
stages:
  - name: story{system}
    prompt: {json.dumps(prompt)}
""", encoding="utf-8")
    run_argv = ["run", str(recipe), "-n", "2", "--backend", "fake", "--out", str(tmp_path / "out"), "--quiet"]
    for argv in (["validate", str(recipe)], run_argv):
        code, err = cli(*argv)
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert f"r.yaml:6: stages[0].{field}: template not allowed (template line 1)" in err, err
        assert UNSAFE[template] in err
    assert not (tmp_path / "out").exists()


def test_unsafe_judge_instruction_names_its_field(tmp_path):
    """A judge's rubric has the recipe's `instruction` put into it: the error names that field."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("""\
name: judged
entities: {noun: [cat]}
slots: {noun: noun}
stages:
  - name: story
    prompt: "About {{ noun }}."
  - kind: judge
    name: score
    rubric: quality
    instruction: "{{ noun.__class__ }}"
    response: "{{ story }}"
""", encoding="utf-8")
    code, err = cli("validate", str(recipe))
    assert code == 2 and "stages[1].instruction: template not allowed" in err, err


def test_access_the_sandbox_sees_only_at_render_rejects_the_record(tmp_path):
    """An attribute named by a slot value cannot be checked before: the record is rejected, naming the stage."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("""\
name: dynamic
entities: {key: [__class__], noun: [cat]}
slots: {key: key, noun: noun}
stages:
  - name: story
    prompt: "{{ noun|attr(key) }}"
""", encoding="utf-8")
    code, err = cli("run", str(recipe), "-n", "2", "--backend", "fake", "--out", str(tmp_path / "out"), "--quiet")
    assert code == 0, err
    rejected = literal_rows(tmp_path / "out" / "rejected.jsonl")
    assert [(r["stage"], r["reason"]) for r in rejected] == [("story", "render_error")] * 2
    assert "unsafe" in rejected[0]["detail"]
    assert literal_rows(tmp_path / "out" / "dataset.jsonl") == []


# --- bounded work and size ---

RUNAWAY = {  # template -> what the error says ("template stopped": the step count, or the 2 s deadline on a slow machine)
    "{{ 'x' * 100000000 }}": "over the 1,000,000 limit",
    "{{ ('x' * 1000000) * 100 }}": "over the 1,000,000 limit",
    "{{ [noun] * 10**9 }}": "over the 1,000,000 limit",
    "{% for i in range(10**9) %}x{% endfor %}": "MAX_RANGE",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}": "template stopped",
    "{% for i in range(100000) %}{{ 'y' * 100 }}{% endfor %}": "character limit",
    "{% for a in long %}{% for b in long %}{% endfor %}{% endfor %}": "template stopped",
    "{{ 10 ** (10 ** 10) }}": "over 1,000,000 digits",
    "{% set ns = namespace(n=2) %}{% for i in range(64) %}{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n }}": "digits",
    "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}": "limit",
    "{% set ns = namespace(s=[1]) %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}": "limit",
    "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}": "stopped",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}": "nested too deeply",
    "{% for x in range(10) recursive %}{{ loop(range(10)) }}{% endfor %}": "stopped",
    "{% for x in range(10) recursive %}{% if loop.depth < 9 %}{{ loop(range(10)) }}{% endif %}{% endfor %}": "stopped",
    "{{ noun|center(10**9) }}": "center filter",
    "{{ noun.center(10**9) }}": "str.center",
    "{{ noun.zfill(10**9) }}": "str.zfill",
    "{{ 'a\tb'.expandtabs(10**8) }}": "str.expandtabs",
    "{{ long|indent(10**6) }}": "indent filter",
    "{{ noun|batch(10**9, 'x')|list }}": "batch filter",
    "{{ noun|slice(10**9)|list }}": "slice filter",
    "{{ long|replace('', long) }}": "replace filter",
    "{{ long.replace('', long) }}": "str.replace",
    "{{ long|wordwrap(1, wrapstring=long) }}": "wordwrap filter",
    "{{ range(100000)|join(long) }}": "join filter",
    "{{ lipsum(10**6) }}": "lipsum",
    "{{ '%1000000000d' % 1 }}": "width or precision",
    "{{ '%*d' % (10**9, 1) }}": "width or precision",
    "{{ '{:>1000000000}'.format(1) }}": "width or precision",
    "{{ '{:>{}}'.format(1, 10**9) }}": "width or precision",
    "{{ '{0:{1}}'.format(1, 10**9) }}": "width or precision",
    "{{ '%s'|format(long * 2) }}": "over the 1,000,000 limit",
}
VALUES = {"noun": "cat", "long": "y" * 600_000}


@pytest.mark.parametrize("template", list(RUNAWAY), ids=range(len(RUNAWAY)))
def test_runaway_template_stops_quickly_without_memory(template):
    tracemalloc.start()
    started = time.monotonic()
    try:
        compiled = PromptTemplate(template)  # no constant folding at compile time either
        with pytest.raises(TemplateRenderError, match=RUNAWAY[template].replace("(", r"\(")):
            compiled.render(VALUES)
        seconds = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seconds < 4, seconds  # the render deadline is 2 s; tracemalloc slows everything down
    assert peak < 60_000_000, f"{peak:,} bytes"  # VALUES hold 0.6 MB; the limit is 1 MB a value


ORDINARY = {
    "{{ 'x' * 1000 }}": "x" * 1000,
    "{{ 2 ** 64 }}": str(2**64),
    "{{ 10 ** 10 ** 10 }}": str(10**100),  # Jinja's ** is left-associative: (10**10)**10
    "{{ '%5d|%-3s' % (42, 'a') }}": "   42|a  ",
    "{{ '{:>5}'.format(1) }}": "    1",
    "{{ '%d people'|format(8000000000) }}": "8000000000 people",
    "{{ xs|join(', ') }}": "a, b",
    "{{ (xs * 3)|length }}": "6",
    "{{ 'ab' ~ 'cd' ~ 1 }}": "abcd1",
    "{% for i in range(100000) %}{% endfor %}done": "done",
    "{% for i in range(3) %}{{ loop.index }}/{{ loop.length }}{{ ',' if not loop.last }}{% endfor %}": "1/3,2/3,3/3",
    "{% for x in xs if x != 'a' %}{{ x }}{% else %}none{% endfor %}": "b",
    "{% set ns = namespace(n=0) %}{% for i in range(10) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}": "45",
    "{{ long|truncate(1000000000)|length }}": "600000",
    "{{ long|wordwrap(80)|length > 0 }}": "True",
    "{{ 'a\nb'|indent(2, first=True) }}": "  a\n  b",
    "{{ lipsum(1, html=False)|length > 0 }}": "True",
    "{% filter upper %}hi {{ xs[0] }}{% endfilter %}": "HI A",
    "{% macro greet(n) %}hi {{ n }}{% endmacro %}{{ greet('x') }}": "hi x",
}


@pytest.mark.parametrize("template", list(ORDINARY), ids=range(len(ORDINARY)))
def test_ordinary_templates_still_work(template):
    assert PromptTemplate(template).render({"xs": ["a", "b"], **VALUES}) == ORDINARY[template]


def test_python_errors_in_a_template_are_render_errors():
    """A division by zero or a bad filter argument is the record's failure, never a crash."""
    for template, values in [("{{ 7 // 0 }}", {}), ("{{ x|int / 0 }}", {"x": "1"}), ("{{ '%s %s' % x }}", {"x": "a"}),
                             ("{{ x|truncate(-5) }}", {"x": "abc def"}), ("{{ x|dictsort }}", {"x": [1]}),
                             ("{{ x|unique|list }}", {"x": [[1], [1]]}), ("{{ '%c' % 99999999 }}", {}),
                             ("{{ 2 ** 20000 }}", {})]:  # Python refuses to print ints of over 4,300 digits
        with pytest.raises(TemplateRenderError):
            PromptTemplate(template).render(values)


@pytest.mark.parametrize("template", ["{{ (" * 400 + "1" + ")" * 400 + " }}", "{{ x|nosuchfilter }}", "{{ x is nosuchtest }}"])
def test_template_compile_errors_are_one_line(template):
    from synthloom.templates import TemplateSyntaxProblem

    with pytest.raises(TemplateSyntaxProblem) as info:
        PromptTemplate(template)
    assert "\n" not in str(info.value)


def test_runaway_template_in_a_run_rejects_records_quickly(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("""\
name: runaway
entities: {noun: [cat, dog]}
slots: {noun: noun}
stages:
  - name: big
    prompt: "{{ 'x' * 100000000 }}"
  - name: never
    prompt: "{{ big }}"
""", encoding="utf-8")
    started = time.monotonic()
    code, err = cli("run", str(recipe), "-n", "3", "--backend", "fake", "--out", str(tmp_path / "out"), "--quiet")
    assert code == 0, err
    assert time.monotonic() - started < 10
    rejected = literal_rows(tmp_path / "out" / "rejected.jsonl")
    assert [(r["stage"], r["reason"]) for r in rejected] == [("big", "render_error")] * 3
    assert "over the 1,000,000 limit" in rejected[0]["detail"]
    assert json.loads((tmp_path / "out" / "run.json").read_text())["this_run"]["requests_sent"] == 0
    code, err = cli("validate", str(recipe), "--show", "1")  # showing a prompt that cannot render is an error
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "r.yaml:5: stages[0]: record runaway-000000 does not render:" in err and "1,000,000 limit" in err


def test_huge_and_deep_llm_output_is_rejected_not_crashing(tmp_path):
    """A 10 MB answer cannot go into the next prompt; a JSON answer nested 100,000 deep is not valid JSON for us."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("""\
name: huge
entities: {noun: [cat]}
slots: {noun: noun}
stages:
  - name: first
    prompt: "About {{ noun }}."
  - name: second
    prompt: "Shorten: {{ first }}"
""", encoding="utf-8")
    fake = FakeBackend(replies=["z" * 10_000_000])
    result = run(recipe, 1, tmp_path / "a", backend=fake, options=RunOptions(sequential=True))
    assert (result.kept, result.rejected) == (0, 1)
    (row,) = literal_rows(tmp_path / "a" / "rejected.jsonl")
    assert (row["stage"], row["reason"]) == ("second", "render_error") and "character limit" in row["detail"]

    first = '    prompt: "About {{ noun }}."'
    recipe.write_text(recipe.read_text().replace(first, first + "\n    schema: {type: array}\n    repairs: 1"))
    fake = FakeBackend(replies=["[" * 100_000 + "]" * 100_000, "[" * 100 + "]" * 100])
    result = run(recipe, 1, tmp_path / "b", backend=fake, options=RunOptions(sequential=True))
    (row,) = literal_rows(tmp_path / "b" / "rejected.jsonl")
    assert (row["stage"], row["reason"]) == ("first", "schema_invalid") and "nested" in row["detail"]


def test_runaway_template_through_the_entry_point(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("""\
name: runaway
entities: {noun: [cat]}
slots: {noun: noun}
stages:
  - name: big
    prompt: "{% for i in range(100000) %}{% for j in range(100000) %}{{ noun }}{% endfor %}{% endfor %}"
""", encoding="utf-8")
    result = run_cli("run", recipe, "-n", "2", "--backend", "fake", "--out", tmp_path / "out", "--quiet", timeout=60)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    reasons = {r["reason"] for r in literal_rows(tmp_path / "out" / "rejected.jsonl")}
    assert reasons == {"render_error"}

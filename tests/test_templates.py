import pytest
from jinja2 import UndefinedError
from jinja2.exceptions import SecurityError

from synthloom.templates import PromptTemplate, TemplateRenderError, TemplateSyntaxProblem


def test_variables_are_found():
    t = PromptTemplate("Use {{ verb }} and {{ noun }}{% for f in features %} {{ f }}{% endfor %}")
    assert t.variables == {"verb", "noun", "features"}


def test_undefined_variable_raises_instead_of_rendering_empty():
    with pytest.raises(UndefinedError):
        PromptTemplate("Hello {{ name }}").render({})


def test_sandbox_blocks_dunder_access():
    t = PromptTemplate("{{ x.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(SecurityError):
        t.render({"x": "s"})


def test_values_are_data_not_template_code():
    evil = "{{ 7 * 7 }} {% for i in range(3) %}x{% endfor %}"
    out = PromptTemplate("Summary: {{ summary }}").render({"summary": evil})
    assert out == f"Summary: {evil}"


def test_syntax_error_reports_line():
    with pytest.raises(TemplateSyntaxProblem) as info:
        PromptTemplate("line one\n{{ broken ")
    assert info.value.line == 2


def test_filters_work_in_sandbox():
    assert PromptTemplate("{{ xs | join(', ') }}").render({"xs": ["a", "b"]}) == "a, b"


SUBSTITUTION_VALUES = [
    "cats", "", "multi\nline {{ not a tag }}", 3, 2.5, -0.0, True, None, ["a", 1], {"k": "v"}, ("t",), 10**30,
]


@pytest.mark.parametrize("source", [
    "Write one {{ tone }} sentence about {{ topic }}.",
    "{{ topic }}",
    "{{topic}}{{tone}}",
    "  {{ topic }}  \n\n{{ tone }}\n",
    "no names at all\n",
    "{{ lipsum }} and {{ topic }}",  # a global, not a value
    "{{ range }}",
])
def test_a_substitution_template_renders_exactly_what_jinja_renders(source):
    """Text and `{{ name }}`s take a fast path; it must give Jinja's string or Jinja's error."""
    fast = PromptTemplate(source)
    assert fast._parts is not None
    slow = PromptTemplate(source)
    slow._parts = None  # Jinja renders it
    for topic in SUBSTITUTION_VALUES:
        for tone in SUBSTITUTION_VALUES[:4]:
            values = {"topic": topic, "tone": tone}
            if "lipsum" in source or "range" in source:
                assert fast.render(values).split(" at 0x")[0] == slow.render(values).split(" at 0x")[0]
            else:
                assert fast.render(values) == slow.render(values)
    for values in ({}, {"topic": "x"}, {"tone": "y"}):
        try:
            expected = slow.render(values)
        except Exception as exc:  # noqa: BLE001 - whatever Jinja raises, the fast path raises alike
            with pytest.raises(type(exc)) as raised:
                fast.render(values)
            assert str(raised.value) == str(exc)
        else:
            assert fast.render(values) == expected


@pytest.mark.parametrize("source", ["{{ a.b }}", "{{ a|upper }}", "{% if a %}x{% endif %}", "{{ a ~ b }}", "{{ 'x' }}",
                                    "{{ a + 1 }}", "{# c #}{{ a }}"])
def test_anything_but_text_and_names_is_rendered_by_jinja(source):
    assert PromptTemplate(source)._parts is None or source.startswith("{#")


def test_a_substitution_over_the_size_limit_is_a_render_error():
    with pytest.raises(TemplateRenderError, match="character limit"):
        PromptTemplate("{{ a }}{{ a }}").render({"a": "x" * 600_000})

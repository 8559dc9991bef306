import pytest
from jinja2 import UndefinedError
from jinja2.exceptions import SecurityError

from synthloom.templates import PromptTemplate, TemplateSyntaxProblem


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

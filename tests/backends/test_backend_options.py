"""backend.options are checked against each backend's pydantic model: one line naming the option."""

import pytest

from synthloom import load_recipe
from synthloom.backends.options import OptionError
from synthloom.errors import RecipeError
from synthloom.prepare.backends import make_backend, resolve_backend_spec
from synthloom.recipe import BackendSpec
from synthloom.registry import default_registry

RECIPE = """name: opts
backend:
  kind: {kind}
  model: m
  base_url: http://127.0.0.1:9/v1
  options:
    {options}
stages:
  - name: g
    kind: generate
    prompt: Say hi
"""


def backend_from(tmp_path, kind, options):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.format(kind=kind, options=options))
    recipe = load_recipe(path)
    return make_backend(recipe.backend, default_registry(), recipe)[0], path


@pytest.mark.parametrize("kind, options, message", [
    ("embedded", "parallel: lots", "backend.options.parallel: input should be a valid integer, got 'lots'"),
    ("embedded", "parallel: 0", "backend.options.parallel: input should be greater than or equal to 1, got 0"),
    ("embedded", "flash_attn: maybe", "backend.options.flash_attn: input should be a valid boolean, got 'maybe'"),
    ("embedded", "n_ctx: '2048'", "backend.options.n_ctx: input should be a valid integer, got '2048'"),
    ("embedded", "paralel: 8", "backend.options.paralel: unknown option (known: n_ctx, n_threads, n_batch, parallel, "
                               "flash_attn)"),
    ("openai", "max_connections: many", "backend.options.max_connections: input should be a valid integer"),
    ("openai", "cooldown: -1", "backend.options.cooldown: input should be greater than 0, got -1"),
    ("openai", "api_key: sk-secret", "backend.options.api_key: unknown option (known: max_connections, cooldown, "
                                     "max_cooldown)"),
    ("fake", "latency: abc", "backend.options.latency: input should be a valid number, got 'abc'"),
    ("fake", "replies: [1, 2]", "backend.options.replies[0]: input should be a valid string, got 1"),
])
def test_bad_option_names_file_line_and_option(tmp_path, kind, options, message):
    with pytest.raises(RecipeError) as caught:
        backend_from(tmp_path, kind, options)
    text = str(caught.value)
    assert text.startswith(f"{tmp_path / 'r.yaml'}:7: ") and message in text and "\n" not in text
    assert "sk-secret" not in text


def test_good_options_reach_the_backend(tmp_path):
    embedded, _ = backend_from(tmp_path, "embedded", "{parallel: 4, n_ctx: 1024, flash_attn: false, n_threads: 1}")
    assert (embedded.parallel, embedded.n_ctx, embedded.flash_attn, embedded.n_threads) == (4, 1024, False, 1)
    openai, _ = backend_from(tmp_path, "openai", "{max_connections: 7, cooldown: 2, max_cooldown: 9.5}")
    assert openai.max_connections == 7 and openai.fleet.endpoints[0].cooldown == 2.0
    fake, _ = backend_from(tmp_path, "fake", "{latency: 0.5, replies: [a, b]}")
    assert fake.latency == 0.5 and list(fake.replies) == ["a", "b"]


def test_options_of_the_recipe_backend_are_dropped_when_the_command_line_picks_another(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.format(kind="embedded", options="parallel: 8"))
    recipe = load_recipe(path)
    assert resolve_backend_spec(recipe, kind="fake").options == {}
    assert resolve_backend_spec(recipe, kind="embedded").options == {"parallel": 8}


def test_option_error_from_code_is_a_config_error():
    from synthloom.backends.embedded import EmbeddedBackend

    with pytest.raises(OptionError, match=r"^backend.options.parallel: input should be a valid integer"):
        EmbeddedBackend.from_spec(BackendSpec(kind="embedded", options={"parallel": "8"}))


def test_embedded_slots_are_capped_by_the_requests_a_run_can_have_in_flight():
    """--concurrency 3 cannot fill 8 slots; --sequential gets the unbatched path (no batch context)."""
    from synthloom import RunOptions
    from synthloom.backends.embedded import EmbeddedBackend
    from synthloom.backends.fake import FakeBackend
    from synthloom.prepare.backends import fit_in_flight

    capped, sequential, wide, fake = EmbeddedBackend(), EmbeddedBackend(), EmbeddedBackend(parallel=4), FakeBackend()
    fit_in_flight([capped, fake], RunOptions(concurrency=3))
    fit_in_flight([sequential], RunOptions(concurrency=8, sequential=True))
    fit_in_flight([wide], RunOptions(concurrency=64))
    assert (capped.parallel, sequential.parallel, wide.parallel) == (3, 1, 4)


def test_validate_checks_backend_options_but_leaves_run_time_settings_to_run(tmp_path):
    """A typo in options is found by `validate`; an openai backend without a model (given later by --model) is not an error."""
    import subprocess
    import sys

    def validate(text):
        path = tmp_path / "v.yaml"
        path.write_text(text)
        result = subprocess.run([sys.executable, "-m", "synthloom", "validate", str(path)], capture_output=True, text=True)
        return result.returncode, result.stderr.strip()

    stages = 'stages:\n  - {name: g, kind: generate, prompt: "Say hi"}\n'
    code, err = validate("name: v\nbackend:\n  kind: embedded\n  options: {paralel: 8}\n" + stages)
    assert code == 2 and err.startswith("synthloom: error: ") and "v.yaml:4: backend.options.paralel: unknown option" in err
    code, err = validate("name: v\nbackend: {kind: openai}\nbackends:\n  judge: {kind: openai, model: m, options: "
                         "{cooldown: fast}}\n" + stages)
    assert code == 2 and "v.yaml:4: backends.judge.options.cooldown: input should be a valid number" in err
    assert validate("name: v\nbackend: {kind: openai, options: {max_connections: 4}}\n" + stages) == (0, "")

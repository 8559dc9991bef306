"""Recipe fuzzing: mutated shipped recipes and random YAML never crash `synthloom`.

What the product promises (README "What works today", docs/recipes.md), for any recipe file:

- `synthloom validate RECIPE` and `synthloom run RECIPE -n 3 --backend fake` exit 0 or 2, and
  never print a traceback;
- exit 2 prints exactly one line, `synthloom: error: FILE[:LINE]: [FIELD:] MESSAGE`, naming the
  recipe (or the file it points at that is wrong);
- a run that exits 2 leaves no half-made output in a fresh --out directory: none of the run's
  files (dataset.jsonl, dataset.parquet, rejected.jsonl, lineage.jsonl, run.json, recipe.yaml)
  and no `.NAME.tmp`. Mistakes in the recipe are found before any request, so they leave no
  store either; only an error after requests were paid for (a topic tree that grew no topics)
  keeps the store, with those responses in it, so that a re-run resumes instead of paying
  again. The corpus a recipe's documents were ingested into (OUT/corpus, a cache) and the lock
  file may stay;
- a run that exits 0 wrote every one of those files, left no temp file, and each of the n
  records is in exactly one of dataset.jsonl and rejected.jsonl.

Examples run in-process (`synthloom.cli.main`, stdout/stderr captured); `test_entry_point`
runs a few through the installed `synthloom` command. The examples are derandomized, so CI sees
the same ones every time; `SYNTHLOOM_FUZZ_EXAMPLES=2000` runs more (and, with
`SYNTHLOOM_FUZZ_RANDOM=1`, new ones each time).
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from synthloom.cli import main
from tests.conftest import ROOT, SYNTHLOOM, run_cli

EXAMPLES = int(os.environ.get("SYNTHLOOM_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    deadline=None,
    derandomize=not os.environ.get("SYNTHLOOM_FUZZ_RANDOM"),
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture, HealthCheck.large_base_example],
)

SHIPPED = sorted((ROOT / "recipes").glob("*.yaml")) + sorted((ROOT / "benchmarks" / "recipes").glob("*.yaml"))
RUN_FILES = ("dataset.jsonl", "dataset.parquet", "rejected.jsonl", "lineage.jsonl", "run.json", "recipe.yaml")
ALLOWED_AFTER_ERROR = {"corpus", ".lock"}
STORE = "store.sqlite"
N = 3


# --- the workspace: shipped recipes and the data they point at, plus broken files to point at ---

class Workspace:
    """A temp dir laid out like the repo (recipes/ beside data/), so `../data/...` paths resolve."""

    def __init__(self, root: Path):
        self.root = root
        self.recipes = root / "recipes"
        self.recipes.mkdir()
        shutil.copytree(ROOT / "data", root / "data")
        self.texts = {path.stem: path.read_text(encoding="utf-8") for path in SHIPPED}
        self.counter = itertools.count()
        files = root / "files"
        files.mkdir()
        (files / "empty.txt").write_text("")
        (files / "comments.txt").write_text("# only a comment\n\n   \n")
        (files / "binary.bin").write_bytes(b"\x00\x01\x02GGUF\x00")
        (files / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
        (files / "one.txt").write_text("one item\n")
        (files / "long_line.txt").write_text("x" * 200_000 + "\n")
        (files / "template_items.txt").write_text("{{ 7*7 }}\n{% for %}\n{{ ''.__class__ }}\n")
        (files / "tree_list.json").write_text("[]")
        (files / "tree_bad.json").write_text('{"topic": 5, "children": "no"}')
        (files / "tree_broken.json").write_text('{"topic": ')
        (files / "deep.json").write_text("[" * 50_000 + "]" * 50_000)
        (files / "adir").mkdir()
        self.paths = [
            "nowhere.txt", "../files/nowhere/deeper.txt", "../files/empty.txt", "../files/comments.txt",
            "../files/binary.bin", "../files/latin1.txt", "../files/one.txt", "../files/long_line.txt",
            "../files/template_items.txt", "../files/tree_list.json", "../files/tree_bad.json",
            "../files/tree_broken.json", "../files/deep.json", "../files/adir", "../files", "/dev/null",
            "../data/vocab", "", " ", "\x00", "../data/vocab/verbs.txt",
        ]

    def write(self, text: str) -> Path:
        path = self.recipes / f"fuzz-{next(self.counter):05d}.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    def out_dir(self) -> Path:
        return self.root / f"out-{next(self.counter):05d}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("fuzz"))


# --- running the CLI and checking the promise ---

def call(argv: list[str]) -> tuple[int, str]:
    """main(argv) as the entry point runs it: the exit code and stderr (a traceback if it raised)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 1
        except KeyboardInterrupt:
            raise
        except BaseException:  # what the real entry point would print, and exit 1
            traceback.print_exc(file=err)
            code = 1
    return code, err.getvalue()


def check_outcome(command: str, code: int, err: str, recipe: Path) -> None:
    assert "Traceback" not in err, f"{command}: traceback\n{err}"
    assert code in (0, 2), f"{command}: exit {code}\n{err}"
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1, f"{command}: {len(lines)} lines on stderr\n{err}"
        assert lines[0].startswith("synthloom: error: "), lines[0]
        assert names_a_file(lines[0], recipe), f"{command}: names neither the recipe nor a file it points at: {lines[0]}"


def names_a_file(line: str, recipe: Path) -> bool:
    """The recipe, or a file it points at: under the workspace, or an absolute path written in it.
    A backend setting, which the command line can give too, is named by its field instead."""
    if str(recipe) in line or str(recipe.parent.parent) in line:
        return True
    if line.removeprefix("synthloom: error: ").startswith(("backend.", "backends.")):
        return True
    text = recipe.read_text(encoding="utf-8") if recipe.exists() else ""
    return any(word.strip("'\",:") in text for word in line.split() if word.startswith(("/", "'/")))


def check_run_dir(code: int, out: Path, n: int = N) -> None:
    """Exit 2: no run files in OUT, and a store only if requests were paid for (a re-run resumes
    from it). Exit 0: every file, complete, no temp file, each record once."""
    left = set(os.listdir(out)) if out.exists() else set()
    if code == 2:
        unexpected = {name for name in left - ALLOWED_AFTER_ERROR
                      if not name.startswith(STORE) and not name.endswith("_tree.json")}
        assert not unexpected, f"exit 2 left {sorted(unexpected)} in {out}"
        if STORE in left:
            with contextlib.closing(sqlite3.connect(out / STORE)) as db:
                paid = db.execute("SELECT count(*) FROM responses").fetchone()[0]
            assert paid, "exit 2 left a store with no response in it: the error was there before any request"
        return
    assert set(RUN_FILES) <= left, f"exit 0 without {sorted(set(RUN_FILES) - left)}"
    assert not [name for name in left if name.endswith(".tmp")], sorted(left)
    kept, rejected = (jsonl_lines(out / name) for name in ("dataset.jsonl", "rejected.jsonl"))
    ids = [json.loads(line)["id"] for line in kept + rejected]
    assert len(ids) == len(set(ids)) == n, (len(kept), len(rejected))
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["kept"] == len(kept)


def jsonl_lines(path: Path) -> list[str]:
    """JSON Lines are split at \\n only: a value may hold U+0085 or U+2028, which splitlines() splits at."""
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line]


def check_recipe(ws: Workspace, text: str) -> tuple[int, int]:
    """Validate (showing two prompts) and run one recipe text against the promise; the two exit codes."""
    recipe = ws.write(text)
    out = ws.out_dir()
    try:
        code_v, err_v = call(["validate", str(recipe), "--show", "2"])
        check_outcome("validate", code_v, err_v, recipe)
        code_r, err_r = call(["run", str(recipe), "-n", str(N), "--backend", "fake", "--out", str(out), "--quiet"])
        check_outcome("run", code_r, err_r, recipe)
        check_run_dir(code_r, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)
        recipe.unlink()
    return code_v, code_r


# --- strategies ---

VOCAB = ["name", "seed", "description", "entities", "slots", "stages", "curate", "params", "backend", "backends",
         "corpus", "prices", "file", "weights", "tree", "chunks", "root", "depth", "degree", "use", "prompt",
         "from", "sampler", "k", "kind", "system", "output", "schema", "repairs", "temperature", "top_p", "max_tokens",
         "stop", "extra", "model", "options", "replies", "latency", "timeout", "turns", "min_turns", "user",
         "assistant", "opener", "rubric", "threshold", "instruction", "response", "field", "words", "features",
         "tries", "method", "candidates", "steps", "operations", "respond", "input", "path", "type", "properties",
         "required", "items", "min_words", "block", "code", "tests", "query", "include", "exclude", "answer",
         "rules", "text", "judge", "scale", "desirable", "regenerate", "feedback", "min_tokens", "docs"]
KINDS = ["generate", "conversation", "judge", "evol", "preference", "retrieve", "grounded_answer", "grounding",
         "constitution", "constraints", "code", "dedup", "length", "repetition", "language", "regex", "refusal",
         "truncated", "magic", ""]
STRINGS = ["", " ", "x" * 100_000, "{{", "}}", "{%", "{% for %}", "{{ 7*7 }}", "{{ nosuch }}", "ü🙂\u202e", "\x85\u2028",
           "null", "~", "-", "../", "/", "id", "index", "a-b", "1abc", "generate", "fake", "embedded", "paths", "coverage",
           "weighted", "uniform", "story", "verbs", "nouns", "review", "name: x", "- a", "\t", "\\", "'", '"', "%s",
           "{0}", "$HOME", "*", "&a"]
YAML_BITS = [":", "- ", "[", "{", "&x", "*x", "!!binary", "!!python/object:os.system", "? ", "<<: *x", "%YAML 1.1", "---"]
NUMBERS = [10**30, -10**30, 2**63, 2**31, -1, 0, 1, 2, 1e308, -1e308, float("inf"), float("-inf"), float("nan"), 0.5, -0.5,
           1e-300]
TEMPLATE_SNIPPETS = [
    "{{", "}}", "{%", "%}", "{#", "{% for x in y %}", "{% endfor %}", "{% if %}", "{% raw %}", "{{ nosuch }}",
    "{{ 7 // 0 }}", "{{ index / 0 }}", "{{ id|int // 0 }}", "{{ ''.__class__.__mro__ }}", "{{ id.__class__ }}",
    "{{ cycler.__init__.__globals__ }}", "{{ self._TemplateReference__context }}", "{{ id|attr('__class__') }}",
    "{{ 'x' * 100000000 }}", "{% for i in range(10**9) %}x{% endfor %}", "{{ 10 ** (10 ** 10) }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "{% include 'x' %}", "{% extends 'x' %}",
    "{% import 'x' as y %}", "{{ id|center(10**9) }}", "{{ lipsum(10**6) }}", "{{ id|nosuchfilter }}",
    "{{ id is nosuchtest }}", "{% set ns = namespace(x='ab') %}{% for i in range(40) %}{% set ns.x = ns.x ~ ns.x %}"
    "{% endfor %}{{ ns.x|length }}", "{{ (" * 300 + ")) }}" * 300, "{{ '%s %s' % id }}", "{{ id|truncate(-5) }}",
    "{{ id|dictsort }}", "{{ id|sum }}", "{{ [1, 'a']|sort }}", "{{ id|wordwrap(0) }}", "{{ '%c' % 99999999 }}",
    "{{ range(10)|random }}", "{{ id[99] }}", "{{ id[::0] }}",
]


def safe_text(max_size: int = 12) -> st.SearchStrategy[str]:
    return st.text(st.characters(blacklist_categories=("Cs",)), max_size=max_size)


def values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.integers(-3, 3), st.sampled_from(NUMBERS), st.sampled_from(STRINGS), safe_text(),
                        st.booleans(), st.none())
    return st.one_of(
        scalars,
        st.lists(scalars, max_size=3),
        st.dictionaries(st.sampled_from(VOCAB), scalars, max_size=3),
        st.lists(st.dictionaries(st.sampled_from(VOCAB), scalars, max_size=3), max_size=2),
    )


def paths_in(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a node: ('stages', 0, 'prompt'), ..."""
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths_in(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += paths_in(value, (*prefix, i))
    return found


def get(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


def op_delete(draw, data):
    path = draw(st.sampled_from(paths_in(data)))
    del get(data, path[:-1])[path[-1]]


def op_replace(draw, data):
    path = draw(st.sampled_from(paths_in(data)))
    get(data, path[:-1])[path[-1]] = draw(values())


def op_duplicate_item(draw, data):
    lists = [p for p in paths_in(data) if isinstance(get(data, p), list) and get(data, p)]
    if lists:
        items = get(data, draw(st.sampled_from(lists)))
        items.insert(draw(st.integers(0, len(items))), copy.deepcopy(draw(st.sampled_from(items))))


def op_add_key(draw, data):
    maps = [()] + [p for p in paths_in(data) if isinstance(get(data, p), dict)]
    get(data, draw(st.sampled_from(maps)))[draw(st.sampled_from(VOCAB) | safe_text())] = draw(values())


def op_rename_stage(draw, data):
    stages = [(section, i) for section in ("stages", "curate") if isinstance(data.get(section), list)
              for i, s in enumerate(data[section]) if isinstance(s, dict)]
    if stages:
        section, i = draw(st.sampled_from(stages))
        names = [s.get("name") for sec in ("stages", "curate") for s in data.get(sec) or [] if isinstance(s, dict)]
        names += [n for key in ("slots", "entities") if isinstance(data.get(key), dict) for n in data[key]]
        data[section][i]["name"] = draw(st.sampled_from([n for n in names if n] + ["id", "index", "1x", "a b", "é", ""]))


def op_set_kind(draw, data):
    stages = [s for section in ("stages", "curate") if isinstance(data.get(section), list)
              for s in data[section] if isinstance(s, dict)]
    if stages:
        draw(st.sampled_from(stages))["kind"] = draw(st.sampled_from(KINDS))


def op_swap_stages(draw, data):
    stages = data.get("stages")
    if isinstance(stages, list) and len(stages) > 1:
        i, j = draw(st.integers(0, len(stages) - 1)), draw(st.integers(0, len(stages) - 1))
        stages[i], stages[j] = stages[j], stages[i]


def op_break_template(draw, data):
    strings = [p for p in paths_in(data) if isinstance(get(data, p), str)]
    if not strings:
        return
    path = draw(st.sampled_from(strings))
    text = get(data, path)
    at = draw(st.integers(0, len(text)))
    how = draw(st.sampled_from(["insert", "truncate", "unclose"]))
    if how == "insert":
        text = text[:at] + draw(st.sampled_from(TEMPLATE_SNIPPETS)) + text[at:]
    elif how == "truncate":
        text = text[:at]
    else:
        text = text.replace("}}", "}", 1).replace("%}", "%", 1)
    get(data, path[:-1])[path[-1]] = text


def op_point_file(draw, data, ws_paths: list[str]):
    """Point a file, a corpus or a tree file at something missing, empty, binary, a directory..."""
    targets = [p for p in paths_in(data) if p and p[-1] in ("file", "corpus", "path")]
    target = draw(st.sampled_from(targets)) if targets else draw(st.sampled_from(
        [("entities", "verbs", "file"), ("corpus",), ("entities", "topic", "tree", "file")]))
    parent: Any = data
    for part in target[:-1]:  # create the mapping on the way when needed
        if not isinstance(parent, dict):
            return
        parent = parent.setdefault(part, {}) if not isinstance(parent.get(part), (dict, list)) else parent[part]
    if isinstance(parent, dict):
        parent[target[-1]] = draw(st.sampled_from(ws_paths))


OPS: list[Callable] = [op_delete, op_replace, op_replace, op_duplicate_item, op_add_key, op_rename_stage, op_set_kind,
                       op_swap_stages, op_break_template, op_break_template, op_point_file]


def make_safe(data: Any) -> Any:
    """Keep the fuzzer off what would leave this machine or load a real model: named `backends`
    (which --backend fake does not override) become fake ones; and off what is valid but slow."""
    if isinstance(data, dict):
        backends = data.get("backends")
        if isinstance(backends, dict):
            for name, spec in list(backends.items()):
                if isinstance(spec, dict) and spec.get("kind", "embedded") in ("embedded", "openai"):
                    spec["kind"] = "fake"
                elif spec is None or (isinstance(spec, str) and spec in ("embedded", "openai")):
                    backends[name] = {"kind": "fake"}
        for key, value in data.items():
            if key == "latency" and isinstance(value, (int, float)) and 0.01 <= value <= 3600:
                data[key] = 0.001  # valid, but seconds per fake call add up (over 3600 is an error to find)
            elif key == "depth" and isinstance(value, int) and not isinstance(value, bool) and 3 < value <= 5:
                data[key] = 3  # valid, but 5**5 fake tree calls per example is just slow
            else:
                make_safe(value)
    elif isinstance(data, list):
        for item in data:
            make_safe(item)
    return data


def dump(data: Any) -> str:
    return yaml.safe_dump(make_safe(data), sort_keys=False, allow_unicode=True, width=120)


@st.composite
def mutated_recipes(draw, ws: Workspace) -> str:
    """A shipped recipe with one to three structural mutations, as YAML text."""
    stem = draw(st.sampled_from(sorted(ws.texts)))
    data = yaml.safe_load(ws.texts[stem])
    for _ in range(draw(st.integers(1, 3))):
        if not isinstance(data, dict) or not data:
            break
        op = draw(st.sampled_from(OPS))
        op(draw, data, ws.paths) if op is op_point_file else op(draw, data)
    return dump(data) if isinstance(data, dict) else yaml.safe_dump(data)


@st.composite
def mutated_texts(draw, ws: Workspace) -> str:
    """A shipped recipe's text (comments, anchors, layout kept) with line-level damage."""
    lines = ws.texts[draw(st.sampled_from(sorted(ws.texts)))].splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        how = draw(st.sampled_from(["delete", "duplicate", "truncate", "indent", "dedent", "insert", "swap"]))
        if not lines:
            break
        if how == "delete":
            del lines[i]
        elif how == "duplicate":
            lines.insert(i, lines[i])
        elif how == "truncate":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif how == "indent":
            lines[i] = "  " + lines[i]
        elif how == "dedent":
            lines[i] = lines[i].lstrip()
        elif how == "insert":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.sampled_from(TEMPLATE_SNIPPETS + STRINGS + YAML_BITS)) + lines[i][at:]
        else:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines) + "\n"


def random_documents() -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), safe_text(20), st.sampled_from(STRINGS + KINDS))
    keys = st.sampled_from(VOCAB) | safe_text(6)
    nested = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
                          max_leaves=25)
    return st.one_of(nested, st.dictionaries(st.sampled_from(VOCAB[:12]), nested, min_size=1, max_size=8))


NAMES = ["a", "b", "topic", "verbs", "story", "review", "x1"]
BAD_NAMES = ["id", "index", "_u", "1x", "a-b", "É", ""]


def sometimes_bad(draw, good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any], one_in: int = 8) -> Any:
    """Mostly a good value, so that recipes get past validation and run; now and then a bad one."""
    return draw(bad) if draw(st.sampled_from([False] * (one_in - 1) + [True])) else draw(good)


@st.composite
def random_recipes(draw) -> str:
    """Recipe-shaped documents: entities, slots and stages that mostly fit together, some that don't."""
    name = st.sampled_from(NAMES)
    bad_name = st.sampled_from(BAD_NAMES) | safe_text(5)
    lists = draw(st.lists(name, min_size=1, max_size=3, unique=True))
    good_item = st.sampled_from(["cat", "dog", "{{ 7*7 }}", "x" * 100_000, "ü🙂\u202e", "{% for %}"]) | safe_text(8).filter(str.strip)
    good_entity = st.one_of(
        st.lists(good_item, min_size=1, max_size=4),
        st.lists(st.fixed_dictionaries({"user": good_item, "assistant": good_item}), min_size=1, max_size=3),
        st.builds(lambda w: {"weights": w}, st.dictionaries(good_item, st.integers(1, 5) | st.sampled_from([0.5, 1e-300, 1e308]),
                                                            min_size=1, max_size=3)),
        st.builds(lambda f: {"file": f}, st.sampled_from(["../data/vocab/verbs.txt", "../files/one.txt",
                                                          "../files/template_items.txt", "../files/long_line.txt"])),
    )
    bad_entity = values() | st.builds(lambda f: {"file": f}, st.sampled_from(["../files/empty.txt", "nowhere.txt", "../files/adir"]))
    entities = {n: sometimes_bad(draw, good_entity, bad_entity) for n in lists}
    good_slot = st.one_of(
        st.sampled_from(lists),
        st.fixed_dictionaries({"from": st.sampled_from(lists)},
                              optional={"sampler": st.sampled_from(["uniform", "weighted", "coverage"]), "k": st.integers(1, 3)}),
    )
    bad_slot = values() | st.fixed_dictionaries({"from": st.sampled_from(lists + ["nosuch"]), "k": st.integers(-1, 9),
                                                 "sampler": st.sampled_from(["magic", "coverage"])})
    slot_names = draw(st.lists(name, min_size=1, max_size=3, unique=True))
    slots = {sometimes_bad(draw, st.just(n), bad_name, 20): sometimes_bad(draw, good_slot, bad_slot) for n in slot_names}
    names = [n for n in slots if isinstance(n, str)] + ["id", "index"]

    def prompts() -> tuple[st.SearchStrategy[str], st.SearchStrategy[str]]:
        good = st.builds(" ".join, st.lists(
            st.sampled_from([f"{{{{ {n} }}}}" for n in names] + [f"{{{{ {n}|join(', ') }}}}" for n in names]
                            + ["Write about", "and", "{{ id|upper }}", "{% for c in id %}{{ c }}{% endfor %}"]), min_size=1, max_size=4))
        return good, st.builds(lambda p, snippet: p + snippet, good, st.just("") | st.sampled_from(TEMPLATE_SNIPPETS))

    good_params = st.fixed_dictionaries({}, optional={"temperature": st.sampled_from([0, 0.7, 2]), "max_tokens": st.integers(1, 50),
                                                      "stop": st.lists(good_item, max_size=2), "seed": st.integers(0, 2**32 - 1),
                                                      "extra": st.dictionaries(good_item, good_item, max_size=1)})
    params = st.dictionaries(st.sampled_from(["temperature", "top_p", "max_tokens", "stop", "seed", "extra", "presence_penalty"]),
                             values(), max_size=2)
    stage_names = iter(["s1", "s2", "s3"])

    def stage() -> dict[str, Any]:
        kind = sometimes_bad(draw, st.sampled_from(["generate", "generate", "judge", "conversation", "evol", "preference"]),
                             st.sampled_from(KINDS))
        spec: dict[str, Any] = {"kind": kind, "name": sometimes_bad(draw, st.just(next(stage_names)), bad_name, 20)}
        fields = {"generate": ["prompt", "system"], "judge": ["instruction", "response"], "conversation": ["user", "assistant"],
                  "evol": ["input"], "preference": ["prompt"]}.get(kind, ["prompt", "field"])
        good_prompt, prompt = prompts()
        for key in fields:
            spec[key] = sometimes_bad(draw, good_prompt, prompt, 3)
        if kind == "judge":
            spec["rubric"] = sometimes_bad(draw, st.sampled_from(["backtranslation", "quality"]), values())
        if kind == "preference":
            spec["candidates"] = sometimes_bad(draw, st.lists(good_params, min_size=2, max_size=3), values())
        if draw(st.booleans()):
            spec["params"] = sometimes_bad(draw, good_params, params)
        if draw(st.sampled_from([False, False, False, True])):
            key = draw(st.sampled_from(["output", "schema", "turns", "repairs", "steps", "threshold", "words", "tries",
                                        "min_turns", "end_marker", "operations", "respond", "scale", "desirable"]))
            spec[key] = draw(values())
        names.append(spec["name"])
        return spec

    recipe = {"name": sometimes_bad(draw, name, bad_name | values(), 20), "entities": entities, "slots": slots,
              "stages": [stage() for _ in range(draw(st.integers(1, 3)))]}
    extras = {"seed": st.integers(), "params": good_params, "description": safe_text(),
              "curate": st.lists(st.fixed_dictionaries({"kind": st.sampled_from(KINDS), "field": st.sampled_from(names)}),
                                 max_size=2)}
    for key in draw(st.lists(st.sampled_from(sorted(extras)), max_size=2, unique=True)):
        recipe[key] = sometimes_bad(draw, extras[key], values())
    return dump(recipe)


@st.composite
def random_yaml(draw) -> str:
    if draw(st.integers(0, 4)) == 0:  # not even YAML, sometimes
        return draw(st.text(st.characters(blacklist_categories=("Cs",)), max_size=200))
    return dump(draw(random_documents()))


# --- the fuzz tests ---

@settings(FUZZ, max_examples=EXAMPLES or 120)
@given(data=st.data())
def test_mutated_shipped_recipes(workspace, data):
    check_recipe(workspace, data.draw(mutated_recipes(workspace), label="recipe"))


@settings(FUZZ, max_examples=EXAMPLES or 70)
@given(data=st.data())
def test_damaged_recipe_text(workspace, data):
    check_recipe(workspace, data.draw(mutated_texts(workspace), label="recipe"))


@settings(FUZZ, max_examples=EXAMPLES or 100)
@given(text=random_yaml())
def test_random_yaml(workspace, text):
    check_recipe(workspace, text)


@settings(FUZZ, max_examples=EXAMPLES or 130)
@given(text=random_recipes())
def test_random_recipes(workspace, text):
    check_recipe(workspace, text)


def test_every_shipped_recipe_is_fuzzed(workspace):
    """The fuzzer's corpus is every recipe the repo ships, and each passes unmutated."""
    assert {p.stem for p in SHIPPED} >= {"tinystories", "grounded_qa", "topic_tree", "code_verified", "bench"}
    for stem, text in sorted(workspace.texts.items()):
        assert check_recipe(workspace, text) == (0, 0), stem


def test_entry_point(workspace, tmp_path):
    """The installed command, for a good recipe, a broken one and a template that would not end."""
    good = workspace.texts["sentiment"]
    cases = {
        "good": (good, 0),
        "bad": (good.replace("sampler: coverage", "sampler: 7", 1), 2),
        "runaway": (good.replace("Write a {{ sentiment }}", "{{ 'x' * 10 ** 9 }}"), 0),
    }
    for name, (text, expected) in cases.items():
        recipe = workspace.write(text)
        out = tmp_path / name
        for argv in (["validate", recipe], ["run", recipe, "-n", N, "--backend", "fake", "--out", out, "--quiet"]):
            result = run_cli(*argv, timeout=120)
            check_outcome(f"{name}: {argv[0]}", result.returncode, result.stderr, recipe)
            assert result.returncode == expected, (name, argv[0], result.stderr)
        check_run_dir(result.returncode, out)


# --- regressions: the smallest recipe for each bug the fuzzer found, fixed in the product ---

BASE = """\
name: r
entities:
  noun: [cat, dog]
slots:
  noun: noun
stages:
  - name: story
    prompt: "About {{ noun }}."
"""
TREE = """\
name: t
entities:
  topic: {tree: TREE}
slots:
  topic: topic
stages:
  - name: text
    prompt: "Explain {{ topic }}."
"""


def tree(**fields: str) -> str:
    return TREE.replace("TREE", json.dumps({"root": "Science", "depth": 1, **fields}))


def nested(depth: int) -> str:
    return "{type: array, items: " * depth + "{type: string}" + "}" * depth


def alias_bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    return "name: r\nstages: [{prompt: hi}]\nentities:\n  " + "\n  ".join(lines) + "\n"


# name -> (recipe text, exit code of validate and run, a fragment of the error line)
REGRESSIONS = {
    # a traceback (ValueError: embedded null byte) from Path.resolve
    "nul_in_entity_file": (BASE.replace("[cat, dog]", '{file: "a\\0b"}'), 2, "entities.noun.file: a path cannot contain a NUL"),
    "nul_in_corpus": (BASE + 'corpus: "docs\\0"\n', 2, "corpus.path: a path cannot contain a NUL"),
    "nul_in_tree_file": (tree(file="t\0.json"), 2, "entities.topic.tree.file: a path cannot contain a NUL"),
    # the key's form feed split the error into two lines
    "line_break_in_key": (BASE + '"\\fCq\\u2028x": 1\n', 2, "\\x0cCq\\u2028x: unknown key"),
    # texts and mappings in one list: a traceback from pyarrow when writing dataset.parquet
    "mixed_entity_list": (BASE.replace("[cat, dog]", "[cat, {min_words: fake}]"), 2, "entities.noun[1]: item 1 is a mapping"),
    # numbers no request can carry: a traceback from orjson while hashing the request
    "huge_fixed_seed": (BASE + "params: {seed: 1056923276833690546181144313856}\n", 2, "params.seed: Input should be less than"),
    "huge_max_tokens": (BASE + "    params: {max_tokens: 1000000000000000000000000000000}\n", 2, "stages[0].params.max_tokens"),
    "huge_number_in_extra": (BASE + "params: {extra: {top_k: 1000000000000000000000000000000}}\n", 2, "params.extra: cannot be sent"),
    "huge_number_in_schema": (BASE + "    schema: {type: string, maxLength: 1000000000000000000000000000000}\n", 2,
                              "stages[0].schema: cannot be sent"),
    "deep_schema": (BASE + f"    schema: {nested(280)}\n", 2, "stages[0].schema: not a valid JSON Schema: nested too deeply"),
    # YAML that hangs (aliases expanding to 10^9 values) or recurses until Python gives up
    "yaml_alias_bomb": (alias_bomb(), 2, "expands to over 1,000,000 values"),
    "deep_yaml": (BASE + "description: " + "[" * 5000 + "]" * 5000 + "\n", 2, "invalid YAML: nested too deeply"),
    # Python errors while rendering: a traceback from the runner (it caught only jinja's and ValueError)
    "template_division_by_zero": (BASE.replace("About {{ noun }}.", "{{ 7 // 0 }}"), 0, ""),
    "template_type_error": (BASE.replace("About {{ noun }}.", "{{ noun|truncate(-5) }}{{ '%s %s' % noun }}"), 0, ""),
    # template compile errors: a RecursionError traceback, and a two-line message
    "template_nested_too_deeply": (BASE.replace("About {{ noun }}.", "{{ " + "(" * 400 + "1" + ")" * 400 + " }}"), 2,
                                   "stages[0].prompt: template syntax error: nested too deeply"),
    "template_unknown_filter": (BASE.replace("About {{ noun }}.", "{{ noun|nosuch }}"), 2,
                                "stages[0].prompt: template syntax error (template line 1): No filter named 'nosuch'."),
    # topic tree files and prompts: tracebacks (RecursionError, TypeError, IsADirectoryError, MemoryError), or
    # an error only once the run had started (a prompt that did not compile or render)
    "tree_file_deep_json": (tree(file="../files/deep.json"), 2, "entities.topic.tree.file: "),
    "tree_file_bad_shape": (tree(file="../files/tree_bad.json"), 2, "every child"),
    "tree_file_broken_json": (tree(file="../files/tree_broken.json"), 2, "is not JSON"),
    "tree_file_directory": (tree(file="../files/adir"), 2, "entities.topic.tree.file: is a directory"),
    "tree_file_latin1": (tree(file="../files/latin1.txt"), 2, "is not UTF-8"),
    "tree_file_endless": (tree(file="/dev/zero"), 2, "too big for a topic tree"),
    "tree_prompt_unknown_variable": (tree(prompt="Subtopics of {{ nosuch }}"), 2,
                                     "entities.topic.tree.prompt: template uses {{ nosuch }}"),
    "tree_prompt_syntax": (tree(prompt="Subtopics of {{ topic "), 2, "entities.topic.tree.prompt: template syntax error"),
    "tree_prompt_render_error": (tree(prompt="{{ degree // 0 }}"), 2, "does not render for the root topic: ZeroDivisionError"),
    "tree_prompt_internals": (tree(prompt="{{ topic.__class__ }}"), 2, "entities.topic.tree.prompt: template not allowed"),
    # found by reading, not fuzzing (the fuzzer always passes --out): without --out a run writes to runs/NAME
    "name_escapes_runs_dir": (BASE.replace("name: r", "name: ../../escape"), 2, "name: '../../escape' cannot name a run"),
    "name_with_line_break": (BASE.replace("name: r", 'name: "a\\nb"'), 2, "cannot name a run (the character '\\n')"),
    # an endless entity file filled memory (MemoryError traceback)
    "entity_file_endless": (BASE.replace("[cat, dog]", "{file: /dev/zero}"), 2, "entities.noun.file: /dev/zero: is over 256 MB"),
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_regression(workspace, name):
    text, expected, fragment = REGRESSIONS[name]
    recipe = workspace.write(text)
    out = workspace.out_dir()
    for argv in (["validate", str(recipe)], ["run", str(recipe), "-n", str(N), "--backend", "fake", "--out", str(out), "--quiet"]):
        code, err = call(argv)
        check_outcome(argv[0], code, err, recipe)
        assert code == expected, err
        assert fragment in err, err
    check_run_dir(code, out)


@example(text='name: a\nentities:\n  a:\n  - "0\\N\\e\\u2028"\nslots:\n  a: a\nstages:\n- name: s1\n  prompt: "{{ a }}"\n')
@settings(FUZZ, max_examples=1)
@given(text=st.just(BASE))
def test_regression_line_separators_in_values(workspace, text):
    """U+0085 and U+2028 are not line breaks in JSON Lines; the harness once read them as such."""
    assert check_recipe(workspace, text) == (0, 0)


def test_recipe_file_that_never_ends(tmp_path):
    code, err = call(["validate", "/dev/zero"])
    assert code == 2 and err.strip() == "synthloom: error: /dev/zero: is over 64 MB, too big for a recipe (put long lists in entity files)"


def test_broken_pipe_is_not_a_traceback():
    result = subprocess.run(f"{SYNTHLOOM} validate {ROOT / 'recipes' / 'sentiment.yaml'} --show 200 | head -1", shell=True,
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.startswith("ok:") and "Traceback" not in result.stderr and result.stderr == ""


# --- found by the fuzzer in files others own, fixed there (a5e6708) ---

def test_empty_object_field_is_exported(workspace):
    """A schema property `{}` gets `{}` from the fake: pyarrow could not write that struct (traceback)."""
    text = BASE + "    schema: {type: object, properties: {extra: {}}, required: [extra]}\n"
    assert check_recipe(workspace, text) == (0, 0)


@pytest.mark.parametrize("options", ["{latency: abc}", "{replies: 5}", "{replies: [1, 2]}"])
def test_fake_backend_options_are_checked(workspace, options):
    """float('abc') and iter(5) in FakeBackend.from_spec were tracebacks; `validate` checks options as `run` does."""
    text = BASE + f"backend: {{kind: fake, options: {options}}}\n"
    assert check_recipe(workspace, text) == (2, 2)
    recipe = workspace.write(text)
    code, err = call(["run", str(recipe), "-n", "1", "--backend", "fake", "--out", str(workspace.out_dir()), "--quiet"])
    assert code == 2 and "backend.options." in err, err


def test_field_of_two_json_types_is_exported(workspace):
    text = BASE.replace('    prompt: "About {{ noun }}."', '    prompt: "About {{ noun }}."\n    schema: {type: [number, string]}')
    text += 'backend: {kind: fake, options: {replies: ["5", "\\"five\\""]}}\n'
    recipe = workspace.write(text)
    out = workspace.out_dir()
    code, err = call(["run", str(recipe), "-n", "2", "--backend", "fake", "--out", str(out), "--quiet", "--sequential"])
    check_outcome("run", code, err, recipe)
    check_run_dir(code, out, n=2)
    assert code == 0


def test_boolean_subschema_on_the_fake_backend(workspace):
    text = BASE + "    schema: {type: object, properties: {question: true, answer: {type: string}}}\n"
    assert check_recipe(workspace, text) == (0, 0)

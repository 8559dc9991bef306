"""Start-up is lazy: `import synthloom`, `synthloom --help`, `--version` and `validate` load no heavy
library (a structural check of sys.modules in a fresh interpreter; the time is in benchmarks/bench_startup.py)."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import pytest

import synthloom
from tests.conftest import ROOT

# Libraries a run needs at some point, and what loads them; none of them to print help.
HEAVY = ("numpy", "pyarrow", "aiohttp", "jsonschema", "sklearn", "matplotlib", "llama_cpp", "torch", "ray", "uvloop",
         "synthloom.api", "synthloom.runner", "synthloom.store", "synthloom.export.parquet", "synthloom.metrics.diversity")
PARSING_ONLY = HEAVY + ("jinja2", "yaml", "rich", "pydantic", "synthloom.recipe", "importlib.metadata")

PROBE = """
import json, sys
from synthloom.cli import main
try:
    code = main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
with open(sys.argv[1], "w") as handle:
    json.dump({"code": code, "modules": sorted(sys.modules)}, handle)
"""


def loaded_by(tmp_path, *args: str) -> tuple[int, set[str], str]:
    """Exit code, the modules imported and stdout of `synthloom ARGS` in a fresh interpreter."""
    report = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", PROBE, str(report), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert report.is_file(), done.stderr
    found = json.loads(report.read_text())
    return found["code"], set(found["modules"]), done.stdout


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["run", "--help"], ["export", "--help"], ["train", "--help"]])
def test_help_and_version_import_only_the_parser(tmp_path, args):
    code, modules, out = loaded_by(tmp_path, *args)
    assert code == 0 and out
    forbidden = set(PARSING_ONLY) - ({"importlib.metadata"} if args == ["--version"] else set())  # where the version is
    assert not modules & forbidden, sorted(modules & forbidden)


def test_version_is_the_installed_packages(tmp_path):
    code, _, out = loaded_by(tmp_path, "--version")
    assert code == 0 and out == f"synthloom {importlib.metadata.version('synthloom')}\n"
    assert synthloom.__version__ == importlib.metadata.version("synthloom")


def test_validate_loads_the_recipe_machinery_but_no_heavy_library(tmp_path):
    code, modules, out = loaded_by(tmp_path, "validate", str(ROOT / "recipes" / "sentiment.yaml"))
    assert code == 0 and out.startswith("ok: ")
    assert "synthloom.pipeline" in modules and "pydantic" in modules  # it did check the recipe
    heavy = set(HEAVY) - {"synthloom.api", "synthloom.runner", "synthloom.store"}  # the backend options check
    assert not modules & heavy, sorted(modules & heavy)


def test_import_synthloom_is_lazy_and_the_names_resolve(tmp_path):
    probe = "import json, sys, synthloom; print(json.dumps(sorted(m for m in sys.modules if m.startswith(('synthloom', 'pydantic')))))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert json.loads(done.stdout) == ["synthloom", "synthloom.lazy"]
    from synthloom import api, recipe

    assert synthloom.run is api.run and synthloom.load_recipe is recipe.load_recipe
    assert set(synthloom.__all__) <= set(dir(synthloom))
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        synthloom.not_a_name  # noqa: B018


EACH_ALONE = """
import importlib, json, pkgutil, sys
import synthloom
names = sorted(m.name for m in pkgutil.walk_packages(synthloom.__path__, "synthloom.")
               if not m.name.endswith(("__main__", "train.finetune")))  # finetune: torch takes seconds to import
failed = {}
for name in names:
    for loaded in [m for m in sys.modules if m == "synthloom" or m.startswith("synthloom.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps({"modules": len(names), "failed": failed}))
"""


def test_every_module_imports_first_in_a_fresh_interpreter():
    """With lazy package names nothing imports the run machinery up front, so a module that only
    worked after another had loaded (an import circle) would fail here."""
    done = subprocess.run([sys.executable, "-c", EACH_ALONE], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["modules"] > 100 and found["failed"] == {}

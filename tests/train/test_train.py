"""Training and evaluating local classifiers on a small real fixture of human-written reviews."""

import json
from pathlib import Path

import pytest

from synthloom.cli import main
from synthloom.train.data import Examples, load_examples
from synthloom.train.evaluate import evaluate, learning_curve
from synthloom.train.models import load_model, save_model, train_model

REVIEWS = Path(__file__).with_name("reviews.csv")


def split(examples, every=4):
    """Every 4th example held out (10 of 40, 5 per class), the rest to train."""
    test = [i for i in range(len(examples.texts)) if i % every == 0]
    train = [i for i in range(len(examples.texts)) if i % every]
    pick = lambda idx: Examples([examples.texts[i] for i in idx], [examples.labels[i] for i in idx])  # noqa: E731
    return pick(train), pick(test)


def test_tfidf_learns_the_fixture_and_round_trips(tmp_path):
    train, test = split(load_examples(REVIEWS, "text", "label"))
    model = train_model(train, "tfidf-logreg")
    scores = evaluate(model, test, ["great", "other"])
    assert scores["accuracy"] >= 0.8 and scores["n"] == 10
    assert sum(map(sum, scores["confusion"])) == 10 and scores["per_class"]["great"]["support"] == 5
    save_model(model, "tfidf-logreg", train, tmp_path / "m")
    again, meta = load_model(tmp_path / "m")
    assert list(again.predict(test.texts)) == list(model.predict(test.texts))
    assert meta["labels"] == ["great", "other"] and meta["model"] == "tfidf-logreg"


def test_embedding_model(tmp_path):
    train, test = split(load_examples(REVIEWS, "text", "label"))
    model = train_model(train, "embed-logreg")
    assert evaluate(model, test)["accuracy"] >= 0.7
    save_model(model, "embed-logreg", train, tmp_path / "e")
    again, _ = load_model(tmp_path / "e")
    assert list(again.predict(test.texts)) == list(model.predict(test.texts))


def test_learning_curve_grows_with_data():
    train, test = split(load_examples(REVIEWS, "text", "label"))
    points = learning_curve(train, test, "tfidf-logreg", [4, 30])
    assert [p["train_size"] for p in points] == [4, 30]
    assert points[-1]["accuracy"] >= points[0]["accuracy"]


def test_cli_trains_on_a_run_directory_and_evaluates_with_a_label_map(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    real = load_examples(REVIEWS, "text", "label")
    rows = [{"id": f"r{i}", "sentiment": "positive" if label == "great" else "negative", "review": text}
            for i, (text, label) in enumerate(zip(real.texts, real.labels))]
    (run / "dataset.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "run.json").write_text(json.dumps({"recipe": "sentiment", "recipe_fingerprint": "abc"}))
    assert main(["train", str(run), "--text-field", "review", "--label-field", "sentiment", "--out", str(tmp_path / "m")]) == 0
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert meta["trained_on"]["recipe"] == "sentiment" and meta["labels"] == ["negative", "positive"]
    assert main(["evaluate", str(tmp_path / "m"), "--data", str(REVIEWS), "--text-field", "text", "--label-field", "label",
                 "--label-map", "great=positive,other=negative"]) == 0
    out = capsys.readouterr().out
    scores = json.loads((tmp_path / "m" / "eval.json").read_text())
    assert scores["accuracy"] == 1.0 and "accuracy 1.000" in out  # trained on the same 40 texts
    assert scores["unknown_labels"] == []


@pytest.mark.parametrize("args,message", [
    (["train", "nope.csv", "--text-field", "text", "--label-field", "label", "--out", "m"], "nope.csv: file not found"),
    (["train", str(REVIEWS), "--text-field", "body", "--label-field", "label", "--out", "m"], "reviews.csv:2: the record has no field 'body'"),
    (["train", str(REVIEWS), "--text-field", "text", "--label-field", "label", "--label-map", "great", "--out", "m"], "--label-map"),
    (["evaluate", "nomodel", "--data", str(REVIEWS), "--text-field", "text", "--label-field", "label"], "not a model directory"),
])
def test_bad_input_is_one_line(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err

"""`synthloom dedup` through the CLI entry point: outputs, rejected rows, and bad input as one line."""

from __future__ import annotations

import json

import pytest

from synthloom.cli import main

BASE = " ".join(f"word{i}" for i in range(40))
NEAR = BASE.replace("word20", "changed")


def write_lines(path, lines):
    path.write_bytes(b"".join(line if isinstance(line, bytes) else line.encode() for line in lines))
    return path


@pytest.fixture
def data(tmp_path):
    lines = [
        '{"id": "first", "text": "Hello  World", "n": 1}\n',
        '{"text":"a completely different sentence about boats", "n":2}\n',
        '{"text": "hello world", "n": 3}\n',  # exact duplicate of line 1 (id "first")
        "\n",
        json.dumps({"text": BASE, "n": 5}, ensure_ascii=False) + "\n",
        '{"text": "Ünïcode stays    as written", "n": 6}\n',
        json.dumps({"text": NEAR, "n": 7}) + "\n",
        json.dumps({"text": BASE + " ", "n": 8}),  # no final newline
    ]
    return write_lines(tmp_path / "data.jsonl", lines), lines


def run(capsys, *args):
    code = main(["dedup", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out.strip(), captured.err.strip()


def test_exact_keeps_first_lines_byte_for_byte(data, tmp_path, capsys):
    path, lines = data
    out = tmp_path / "sub" / "dedup.jsonl"
    code, stdout, err = run(capsys, path, "--method", "exact", "--field", "text", "--out", out)
    assert code == 0, err
    assert out.read_bytes() == "".join(lines[i] for i in (0, 1, 4, 5, 6)).encode()
    rejected = [json.loads(line) for line in (tmp_path / "sub" / "dedup.rejected.jsonl").read_text().splitlines()]
    assert rejected == [
        {"row": {"text": "hello world", "n": 3}, "reason": "duplicate_exact", "duplicate_of": "first", "similarity": 1.0, "line": 3},
        {"row": {"text": BASE + " ", "n": 8}, "reason": "duplicate_exact", "duplicate_of": 5, "similarity": 1.0, "line": 8},
    ]
    assert stdout.startswith(f"kept 5 of 7, dropped 2 exact duplicates (exact) → {out}")
    assert len(stdout.splitlines()) == 1
    assert not list(tmp_path.glob("sub/.*.tmp"))


def test_minhash_drops_near_duplicates_into_the_rejected_file(data, tmp_path, capsys):
    path, lines = data
    out, rejected = tmp_path / "kept.jsonl", tmp_path / "dropped.jsonl"
    code, stdout, _ = run(capsys, path, "--method", "minhash", "--threshold", "0.8", "--out", out, "--rejected", rejected)
    assert code == 0
    assert out.read_bytes() == "".join(lines[i] for i in (0, 1, 4, 5)).encode()
    rows = [json.loads(line) for line in rejected.read_text().splitlines()]
    assert [(r["row"]["n"], r["reason"], r["duplicate_of"]) for r in rows] == [
        (3, "near_duplicate", "first"), (7, "near_duplicate", 5), (8, "near_duplicate", 5)]
    assert 0.8 <= rows[1]["similarity"] < 1.0
    assert stdout.startswith("kept 4 of 7, dropped 3 near-duplicates (minhash, threshold 0.8) →")


def test_semantic_on_a_nested_field(tmp_path, capsys):
    texts = ["The cat sat quietly on the warm mat by the fire.", "How do I reverse a linked list in Python?",
             "A cat was sitting quietly on the warm mat near the fire."]
    path = write_lines(tmp_path / "nested.jsonl", [json.dumps({"msg": {"body": t}}) + "\n" for t in texts])
    code, stdout, _ = run(capsys, path, "--method", "semantic", "--field", "msg.body", "--out", tmp_path / "o.jsonl")
    assert code == 0
    assert [json.loads(x)["msg"]["body"] for x in (tmp_path / "o.jsonl").read_text().splitlines()] == texts[:2]
    rejected = json.loads((tmp_path / "o.rejected.jsonl").read_text())
    assert (rejected["reason"], rejected["duplicate_of"]) == ("semantic_duplicate", 1)
    assert "semantic, threshold 0.92" in stdout


def test_output_is_replaced_only_when_done(data, tmp_path, capsys):
    path, _ = data
    out = tmp_path / "o.jsonl"
    out.write_text("old\n")
    write_lines(path, [path.read_text() + "{broken\n"])
    code, _, err = run(capsys, path, "--method", "exact", "--out", out)
    assert code == 2 and out.read_text() == "old\n"


BAD = {
    "not_json": (['{"text": "a"}\n', '{"text": "b"\n'], [], ["data.jsonl:2", "not valid JSON"]),
    "missing_field": (['{"text": "a"}\n', '{"body": "b"}\n'], [], ["data.jsonl:2", "'text'"]),
    "missing_nested": (['{"a": {"b": "x"}}\n', '{"a": {"c": "y"}}\n'], ["--field", "a.b"], ["data.jsonl:2", "'a.b'"]),
    "not_a_string": (['{"text": 3}\n'], [], ["data.jsonl:1", "'text'", "not a string"]),
    "threshold_zero": (['{"text": "a"}\n'], ["--threshold", "0"], ["--threshold", "(0, 1]"]),
    "threshold_big": (['{"text": "a"}\n'], ["--threshold", "1.5"], ["--threshold", "(0, 1]"]),
    "threshold_exact": (['{"text": "a"}\n'], ["--method", "exact", "--threshold", "0.9"], ["--threshold", "exact"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2(case, tmp_path, capsys):
    lines, extra, expected = BAD[case]
    path = write_lines(tmp_path / "data.jsonl", lines)
    code, _, err = run(capsys, path, "--out", tmp_path / "o.jsonl", *extra)
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("synthloom: error: ")
    for fragment in expected:
        assert fragment in err, (fragment, err)
    assert not (tmp_path / "o.jsonl").exists()


def test_missing_file(tmp_path, capsys):
    code, _, err = run(capsys, tmp_path / "nope.jsonl", "--out", tmp_path / "o.jsonl")
    assert code == 2 and "nope.jsonl" in err and "not found" in err


def test_unknown_method_is_an_argparse_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["dedup", str(tmp_path / "x.jsonl"), "--method", "fuzzy", "--out", str(tmp_path / "o.jsonl")])
    assert exit_info.value.code == 2
    assert "invalid choice: 'fuzzy'" in capsys.readouterr().err

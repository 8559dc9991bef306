"""Every reader by extension, random access, the conversion cache, and where/columns/column."""

from __future__ import annotations

import json
import os
import pickle

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthloom.sampling.tables import DataError, TableCache, TableOptions, TableRows, format_of
from synthloom.sampling.tables.readers import UnknownColumn

ROWS = [{"id": "a1", "text": "first line\nsecond line", "label": "billing", "score": 3},
        {"id": "a2", "text": 'with "quotes", and a comma', "label": "shipping", "score": 5},
        {"id": "a3", "text": "plain", "label": "", "score": 4}]


def write(path, fmt, rows=ROWS):
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif fmt == "json":
        path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    elif fmt in ("csv", "tsv"):
        import csv

        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="," if fmt == "csv" else "\t")
            writer.writeheader()
            writer.writerows(rows)
    elif fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif fmt == "arrow":
        with pa.ipc.new_file(str(path), pa.Table.from_pylist(rows).schema) as w:
            w.write_table(pa.Table.from_pylist(rows))
    return path


def open_table(path, cache=None, **options):
    cache = cache or TableCache(path.parent / "cache")
    return cache.open_file(path, format_of(path), TableOptions(**options), path.name)


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "tsv", "parquet", "arrow"])
def test_every_format_reads_rows_in_order(tmp_path, fmt):
    table = open_table(write(tmp_path / f"t.{fmt}", fmt))
    assert table.num_rows == 3 and table.columns == ["id", "text", "label", "score"]
    rows = [table.row(i) for i in range(3)]
    expected = [dict(r, score=str(r["score"])) if fmt in ("csv", "tsv") else r for r in ROWS]
    assert rows == expected
    assert [table.position(i) for i in range(3)] == [0, 1, 2]


def test_datasets_directory_and_dict_split(tmp_path):
    datasets = pytest.importorskip("datasets")
    single = datasets.Dataset.from_list(ROWS)
    single.save_to_disk(str(tmp_path / "one"))
    assert format_of(tmp_path / "one") == "datasets"
    assert open_table(tmp_path / "one").row(1) == ROWS[1]
    datasets.DatasetDict({"train": single, "test": single.select([2])}).save_to_disk(str(tmp_path / "dd"))
    assert open_table(tmp_path / "dd").num_rows == 3  # train by default
    assert open_table(tmp_path / "dd", split="test").row(0) == ROWS[2]
    with pytest.raises(DataError, match="splits train, test"):
        open_table(tmp_path / "dd", split="validation")


def test_where_columns_and_column(tmp_path):
    path = write(tmp_path / "t.jsonl", "jsonl")
    kept = open_table(path, where="label != ''")
    assert [kept.row(i)["id"] for i in range(kept.num_rows)] == ["a1", "a2"]
    assert open_table(path, where="score >= 4 and label in ['shipping', 'x']").row(0)["id"] == "a2"
    assert open_table(path, where={"label": ["billing", ""]}).num_rows == 2
    picked = open_table(path, where="not (id == 'a1')", columns=("id", "text"))
    assert picked.row(0) == {"id": "a2", "text": ROWS[1]["text"]} and picked.position(0) == 1
    assert list(TableRows(open_table(path, column="label"), "label")) == ["billing", "shipping", ""]
    csv_path = write(tmp_path / "t.csv", "csv")
    assert open_table(csv_path, where="score > 3").num_rows == 2  # text compared as a number
    with pytest.raises(UnknownColumn) as exc:
        open_table(path, columns=("id", "txt"))
    assert exc.value.describe("t.jsonl") == "no column txt in t.jsonl; columns: id, text, label, score"
    with pytest.raises(DataError, match="no row matches"):
        open_table(path, where="score > 100")
    for bad in ("label ==", "label = 'a' extra", "__import__('os')", "label ~ 'a'"):
        with pytest.raises(DataError, match="where"):
            open_table(path, where=bad)


def test_large_file_is_batched_and_memory_is_a_few_batches(tmp_path):
    rows = [{"id": i, "text": f"row {i} " + "x" * 50} for i in range(20_000)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "big.parquet", row_group_size=20_000)
    table = open_table(tmp_path / "big.parquet")
    assert len(table.meta["batches"]) >= 20  # small batches, whatever the row groups
    assert table.row(19_999)["id"] == 19_999 and table.row(7)["text"].startswith("row 7 ")
    assert len(table._batches) <= 4


def test_table_pickles_as_its_path(tmp_path):
    table = open_table(write(tmp_path / "t.jsonl", "jsonl"))
    table.row(0)
    blob = pickle.dumps(table)
    assert len(blob) < 2000
    assert pickle.loads(blob).row(2) == ROWS[2]


def test_conversion_is_reused_until_the_file_changes(tmp_path):
    path = write(tmp_path / "t.jsonl", "jsonl")
    cache = TableCache(tmp_path / "cache")
    first = open_table(path, cache)
    arrow = first.path
    mtime = arrow.stat().st_mtime_ns
    assert open_table(path, cache).path.stat().st_mtime_ns == mtime  # not converted again
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    touched = open_table(path, cache)
    assert touched.fingerprint == first.fingerprint  # same content, same fingerprint
    write(path, "jsonl", ROWS[:2])
    assert open_table(path, cache).fingerprint != first.fingerprint


def test_in_memory_data(tmp_path):
    from synthloom.sampling.tables import to_arrow

    cache = TableCache(tmp_path / "cache")
    table = cache.open_arrow(to_arrow(ROWS), TableOptions(where="label != ''"), "tickets")
    assert table.num_rows == 2 and table.row(1)["id"] == "a2"
    with pytest.raises(DataError, match="not a dict"):
        to_arrow([{"a": 1}, "b"])
    with pytest.raises(DataError, match="data= takes"):
        to_arrow({"a": [1]})


BAD = {
    "ragged_csv": ("t.csv", b"id,text\n1,ok\n2,too,many\n", "line 3 has 3 fields but the header has 2"),
    "jsonl_not_object": ("t.jsonl", b'{"id": 1}\n[1, 2]\n', "line 2 is a JSON list, not an object"),
    "jsonl_not_json": ("t.jsonl", b'{"id": 1}\n{"id": \n', "line 2 is not JSON"),
    "mixed_types": ("t.jsonl", b'{"id": 1}\n{"id": 2}\n{"id": "three"}\n', "line 3, column id is text here but a number in line 1"),
    "null_cell": ("t.jsonl", b'{"id": 1, "text": "a"}\n{"id": 2, "text": null}\n', "line 2, column text is empty (null)"),
    "missing_key": ("t.jsonl", b'{"id": 1, "text": "a"}\n{"id": 2}\n', "line 2, column text is empty (null)"),
    "non_utf8": ("t.csv", b"id,text\n1,caf\xe9\n", "line 2 is not UTF-8"),
    "non_utf8_json": ("t.json", b'[{"a": "caf\xe9"}]', "line 1 is not UTF-8"),
    "empty_jsonl": ("t.jsonl", b"", "is empty"),
    "empty_csv": ("t.csv", b"", "is empty"),
    "header_only_csv": ("t.csv", b"id,text\n", "is empty (no rows)"),
    "empty_json": ("t.json", b"[]", "is empty (no rows)"),
    "json_not_array": ("t.json", b'{"a": 1}', "line 1 is not a JSON array of objects"),
    "json_item_not_object": ("t.json", b'[{"a": 1},\n 2]', "line 2 holds a JSON int"),
    "json_unclosed": ("t.json", b'[{"a": 1},', "line 1 ends before the closing ]"),
    "not_parquet": ("t.parquet", b"id,text\n1,a\n", "is not a Parquet file"),
    "not_arrow": ("t.arrow", b"hello", "is not an Arrow file"),
    "duplicate_header": ("t.csv", b"id,id\n1,2\n", "line 1: the header names the column id twice"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_file_line_and_column(tmp_path, case):
    from synthloom.sampling.data import describe_data_error

    name, content, expected = BAD[case]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as exc:
        open_table(path)
    message = describe_data_error(exc.value, name)
    assert message.startswith(name) and f"{name}, {expected}" in message or f"{name} {expected}" in message, message
    assert "\n" not in message


def test_cell_over_the_limit(tmp_path, monkeypatch):
    from synthloom.sampling.tables import convert

    monkeypatch.setattr(convert, "MAX_CELL_CHARS", 10)
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "short"}\n{"text": "much longer than ten"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="over the 10 limit") as exc:
        open_table(path)
    assert exc.value.where == "line 2" and exc.value.column == "text"
    pq.write_table(pa.table({"text": ["ok", "x" * 20]}), tmp_path / "t.parquet")
    with pytest.raises(DataError, match="over the 10 limit") as exc:
        open_table(tmp_path / "t.parquet")
    assert exc.value.where == "row 2"


def test_parquet_nulls_and_bytes_are_named(tmp_path):
    pq.write_table(pa.table({"id": [1, 2, 3], "text": ["a", None, "c"]}), tmp_path / "n.parquet")
    with pytest.raises(DataError) as exc:
        open_table(tmp_path / "n.parquet")
    assert (exc.value.where, exc.value.column) == ("row 2", "text")
    assert open_table(tmp_path / "n.parquet", where="text is not null").num_rows == 2
    pq.write_table(pa.table({"blob": [b"\x00\x01"]}), tmp_path / "b.parquet")
    with pytest.raises(DataError, match="bytes"):
        open_table(tmp_path / "b.parquet")

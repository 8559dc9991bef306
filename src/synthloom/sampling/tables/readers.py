"""Readers by extension, each streaming its file: rows (text formats) or Arrow batches (binary ones).

Text formats (.jsonl, .json, .csv, .tsv) are parsed here, row by row, so an error names the
line; binary ones (.parquet, .arrow, a `datasets` save_to_disk directory) come as Arrow record
batches. Nothing reads a whole file at once.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

__all__ = ["DataError", "UnknownColumn", "TEXT_FORMATS", "ARROW_FORMATS", "format_of", "iter_text_rows", "iter_arrow_batches",
           "arrow_schema", "source_files"]

TEXT_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv"}
ARROW_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".arrow": "arrow", ".feather": "arrow"}
CHUNK = 1 << 20
BATCH_ROWS = 4096  # rows read from a Parquet/Arrow file at a time
MAX_ROW_CHARS = 64 << 20  # a JSON object still incomplete after this many characters is broken


class DataError(ValueError):
    """Bad input in a data file; `where` is a line or row ("line 17", "row 3"), `column` the column."""

    def __init__(self, message: str, where: str = "", column: str = ""):
        super().__init__(message)
        self.where = where
        self.column = column


class UnknownColumn(DataError):
    """A column the recipe names that the data does not have."""

    def __init__(self, name: str, columns: list[str], used: str = ""):
        super().__init__(f"no column {name}", "", name)
        self.name = name
        self.columns = [c for c in columns if not c.startswith("__")]
        self.used = used  # where the recipe names it ("where", "stratify", a template)

    def describe(self, file: str) -> str:
        return f"no column {self.name} in {file}; columns: {', '.join(self.columns)}"


def format_of(path: Path) -> str | None:
    """The table format of `path` ('jsonl', 'csv', ..., 'datasets'), None for a text list."""
    if path.is_dir():
        return "datasets"
    suffix = path.suffix.lower()
    return TEXT_FORMATS.get(suffix) or ARROW_FORMATS.get(suffix)


def source_files(path: Path, fmt: str, split: str | None) -> list[Path]:
    """The files that hold the data (a `datasets` directory's Arrow shards, in order)."""
    if fmt != "datasets":
        return [path]
    splits_file = path / "dataset_dict.json"
    if splits_file.is_file():
        splits = json.loads(splits_file.read_text(encoding="utf-8")).get("splits") or []
        chosen = split or ("train" if "train" in splits else None)
        if chosen is None or chosen not in splits:
            raise DataError(f"is a DatasetDict with splits {', '.join(splits)}: choose one with `split:`")
        path = path / chosen
    elif split:
        raise DataError(f"`split: {split}` but the directory holds one dataset, not a DatasetDict")
    state = path / "state.json"
    if not state.is_file():
        raise DataError("is a directory but not a `datasets` save_to_disk directory (no state.json)")
    try:
        files = [path / f["filename"] for f in json.loads(state.read_text(encoding="utf-8"))["_data_files"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"has a broken state.json ({exc})") from None
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise DataError(f"state.json names {missing[0]}, which is missing")
    return files


# --- text formats: (location, row mapping) -------------------------------------------------------

def decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) of a UTF-8 file; a line that is not UTF-8 is a DataError naming it."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"is not UTF-8 text (byte {exc.start + 1} of the line)", f"line {number}") from None


def iter_jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for number, line in decoded_lines(path):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise DataError(f"is not JSON ({str(exc).split(':')[0]})", f"line {number}") from None
        if not isinstance(row, dict):
            raise DataError(f"is a JSON {type(row).__name__ if row is not None else 'null'}, not an object "
                            "(each line of a .jsonl file is one row: {\"column\": value, ...})", f"line {number}")
        yield f"line {number}", row


def iter_json(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """A JSON array of objects, decoded one object at a time from a sliding buffer."""
    decoder = json.JSONDecoder()
    chunks = utf8_chunks(path)
    buffer, line, started, eof = "", 1, False, False

    def fill() -> bool:
        nonlocal buffer, eof
        more = next(chunks, None)
        if more is None:
            eof = True
            return False
        buffer += more
        return True

    while True:
        stripped = buffer.lstrip()
        line += buffer.count("\n", 0, len(buffer) - len(stripped))
        buffer = stripped
        if not buffer:
            if fill():
                continue
            break
        if not started:
            if buffer[0] != "[":
                raise DataError("is not a JSON array of objects (a .json file holds [{...}, {...}]; "
                                "one object per line is .jsonl)", f"line {line}")
            buffer, started = buffer[1:], True
        elif buffer[0] in ",]":
            if buffer[0] == "]":
                rest: str | None = buffer[1:]
                while rest is not None and not rest.strip():
                    rest = next(chunks, None)
                if rest is None:
                    return
                raise DataError("has text after the closing ] of its array", f"line {line}")
            buffer = buffer[1:]
        else:
            try:
                row, end = decoder.raw_decode(buffer)
            except json.JSONDecodeError as exc:
                if len(buffer) < MAX_ROW_CHARS and fill():
                    continue  # the object goes on in the next chunk
                raise DataError(f"is not JSON ({exc.msg})", f"line {line + exc.lineno - 1}") from None
            if not isinstance(row, dict):
                raise DataError(f"holds a JSON {type(row).__name__}, not an object (the array's items are rows)",
                                f"line {line}")
            yield f"line {line}", row
            line += buffer.count("\n", 0, end)
            buffer = buffer[end:]
    if not started:
        raise DataError("is empty")
    raise DataError("ends before the closing ] of its array", f"line {line}")


def utf8_chunks(path: Path) -> Iterator[str]:
    """The file's text in chunks of about a megabyte; a byte that is not UTF-8 is a DataError."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open(path, "rb") as handle:
        while True:
            data = handle.read(CHUNK)
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                where = line + data[:exc.start].count(b"\n")
                raise DataError("is not UTF-8 text", f"line {where}") from None
            line += data.count(b"\n")
            if text:
                yield text
            if not data:
                return


def iter_csv(path: Path, delimiter: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a CSV/TSV file with a header line; quoted fields may span lines."""
    lines = decoded_lines(path)
    text = (line for _, line in lines)
    reader = csv.reader(text, delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return
        header = [name.strip().lstrip("\ufeff") for name in header]
        check_header(header)
        width = len(header)
        start = reader.line_num + 1
        for row in reader:
            where = f"line {start}"
            start = reader.line_num + 1
            if not row or row == [""]:
                continue
            if len(row) != width:
                raise DataError(f"has {len(row)} fields but the header has {width} ({', '.join(header)})", where)
            yield where, dict(zip(header, row))
    except csv.Error as exc:
        raise DataError(f"is not valid CSV ({exc})", f"line {reader.line_num}") from None


def check_header(header: list[str]) -> None:
    blank = [i + 1 for i, name in enumerate(header) if not name]
    if blank:
        raise DataError(f"the header's field {blank[0]} has no name", "line 1")
    seen = set()
    for name in header:
        if name in seen:
            raise DataError(f"the header names the column {name} twice", "line 1")
        seen.add(name)


def iter_text_rows(path: Path, fmt: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(location, row) for each row of a .jsonl, .json, .csv or .tsv file."""
    if fmt == "jsonl":
        return iter_jsonl(path)
    if fmt == "json":
        return iter_json(path)
    return iter_csv(path, "\t" if fmt == "tsv" else ",")


# --- binary formats: Arrow record batches --------------------------------------------------------

def open_arrow(path: Path) -> Any:
    """A reader of an Arrow IPC file or stream (`datasets` writes streams)."""
    import pyarrow as pa

    try:
        return pa.ipc.open_file(pa.OSFile(str(path)))
    except pa.ArrowInvalid:
        try:
            return pa.ipc.open_stream(pa.OSFile(str(path)))
        except pa.ArrowInvalid as exc:
            raise DataError(f"is not an Arrow file ({first_line(exc)})") from None


def arrow_schema(files: list[Path], fmt: str) -> Any:
    """The schema of a Parquet/Arrow source, read from its footer or first message."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if fmt == "parquet":
            return pq.ParquetFile(str(files[0])).schema_arrow
        return open_arrow(files[0]).schema
    except (pa.ArrowInvalid, OSError) as exc:
        kind = "Parquet" if fmt == "parquet" else "Arrow"
        raise DataError(f"is not a {kind} file ({first_line(exc)})") from None


def iter_arrow_batches(files: list[Path], fmt: str) -> Iterator[Any]:
    """Record batches of a Parquet file, an Arrow file/stream, or a `datasets` directory's shards."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for path in files:
        try:
            if fmt == "parquet":
                yield from pq.ParquetFile(str(path)).iter_batches(batch_size=BATCH_ROWS)
            else:
                reader = open_arrow(path)
                if isinstance(reader, pa.ipc.RecordBatchFileReader):
                    for i in range(reader.num_record_batches):
                        yield reader.get_batch(i)
                else:
                    yield from reader
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"cannot be read ({first_line(exc)})") from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_all_bytes_hash(files: list[Path]) -> str:
    """blake2b of the files' bytes, streamed."""
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    for path in files:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                digest.update(block)
    return digest.hexdigest()


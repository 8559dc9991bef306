"""`synthloom dedup DATA.jsonl --method exact|minhash|semantic --field F --out OUT`: drop duplicate records."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

from ..errors import ConfigError, missing_extra

__all__ = ["add_parser", "handle", "read_records", "field_value"]

REASONS = {"exact": "duplicate_exact", "minhash": "near_duplicate", "semantic": "semantic_duplicate"}
WHAT = {"exact": "exact duplicates", "minhash": "near-duplicates", "semantic": "semantic duplicates"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dedup", help="drop exact, near (MinHash) or semantic duplicates from a JSONL file",
                       description="Stream DATA twice: find the duplicates of one text field, then copy the kept lines "
                                   "unchanged and in order to --out, and the dropped ones with the line they repeat to "
                                   "--rejected. The first record of each group of duplicates is the one kept.")
    p.add_argument("data", type=Path, metavar="DATA", help="a JSONL file, one JSON object a line")
    p.add_argument("--method", choices=("exact", "minhash", "semantic"), default="minhash",
                   help="exact: normalised text; minhash: word 3-gram Jaccard; semantic: embedding cosine (default minhash)")
    p.add_argument("--threshold", type=float, help="minhash: Jaccard (default 0.8); semantic: cosine (default 0.92)")
    p.add_argument("--field", default="text", help="the text to compare; `a.b` reads nested objects (default text)")
    p.add_argument("--out", type=Path, required=True, help="the JSONL file of kept records")
    p.add_argument("--rejected", type=Path, help="dropped records with reasons (default: OUT with .rejected.jsonl)")
    p.add_argument("--ignore-punctuation", action="store_true", help="exact: punctuation does not make texts differ")
    p.add_argument("--num-perm", type=int, default=128, help="minhash: permutations per signature (default 128)")
    p.add_argument("--ngram", type=int, default=3, help="minhash: words per shingle (default 3)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        from ..curate.dedup import make_deduper
    except ImportError as exc:
        raise missing_extra("curate", exc) from None

    if args.threshold is not None and args.method == "exact":
        raise ConfigError("--threshold is not used by --method exact")
    if args.threshold is not None and not 0.0 < args.threshold <= 1.0:
        raise ConfigError(f"--threshold must be in (0, 1], got {args.threshold}")
    if not args.data.is_file():
        raise ConfigError(f"{args.data}: file not found")
    rejected = args.rejected or args.out.with_name(args.out.name.removesuffix(".jsonl") + ".rejected.jsonl")
    if len({args.data.resolve(), args.out.resolve(), rejected.resolve()}) < 3:
        raise ConfigError("DATA, --out and --rejected must be three different files")
    options = {"exact": {"ignore_punctuation": args.ignore_punctuation},
               "minhash": {"num_perm": args.num_perm, "ngram": args.ngram}, "semantic": {}}[args.method]
    deduper = make_deduper(args.method, args.threshold, **options)
    result = deduper.dedup(text for _, _, text in read_records(args.data, args.field))
    write_split(args.data, args.field, result.duplicates, args.out, rejected, REASONS[args.method])
    threshold = getattr(deduper, "threshold", None)
    how = args.method if threshold is None else f"{args.method}, threshold {threshold:g}"
    print(f"kept {result.kept} of {result.total}, dropped {len(result.duplicates)} {WHAT[args.method]} ({how}) "
          f"→ {args.out} (dropped rows: {rejected})")
    return 0


def read_records(path: Path, field: str) -> Iterator[tuple[int, bytes, str]]:
    """(line number, raw line, text of `field`) for each non-blank line; bad lines are a ConfigError."""
    import orjson

    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                row = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{number}: not valid JSON ({exc})") from None
            yield number, raw, field_value(row, field, f"{path}:{number}")


def field_value(row: object, field: str, where: str) -> str:
    """The string at a dotted path, or a ConfigError naming the line and field."""
    value = row
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ConfigError(f"{where}: the record has no field {field!r}")
        value = value[part]
    if not isinstance(value, str):
        raise ConfigError(f"{where}: field {field!r} is {type(value).__name__}, not a string")
    return value


def write_split(data: Path, field: str, duplicates: list, out: Path, rejected: Path, reason: str) -> None:
    """Copy kept lines byte-for-byte to `out` and dropped rows with their reason to `rejected`, atomically."""
    import orjson

    from ..files import Staging

    dropped = {d.index: d for d in duplicates}
    wanted = {d.kept for d in duplicates}
    names: dict[int, object] = {}  # kept record → its id field, else its line number
    for path in (out, rejected):
        path.parent.mkdir(parents=True, exist_ok=True)
    with Staging().writing() as stage, open(stage(out), "wb") as kept_file, open(stage(rejected), "wb") as rejected_file:
        for index, (number, raw, _) in enumerate(read_records(data, field)):
            duplicate = dropped.get(index)
            if duplicate is None:
                if index in wanted:
                    row = orjson.loads(raw)
                    names[index] = row["id"] if isinstance(row, dict) and "id" in row else number
                kept_file.write(raw if raw.endswith(b"\n") else raw + b"\n")
                continue
            entry = {"row": orjson.loads(raw), "reason": reason, "duplicate_of": names[duplicate.kept],
                     "similarity": duplicate.similarity, "line": number}
            rejected_file.write(orjson.dumps(entry) + b"\n")

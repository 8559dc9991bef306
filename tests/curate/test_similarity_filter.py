"""The meaning-kept check of `rewrite`: WordLlama cosine between a field and a template, with a floor."""

from synthloom.curate.filters import SimilarityFilter
from synthloom.record import Record, Rejected


def record(clean: str) -> Record:
    return Record(0, "r-0", {"ticket": {"id": "T1", "text": "i was charged twice for my order, please refund one payment"}},
                  fields={"clean": clean})


def test_faithful_rewrite_is_kept_and_scored(embedder):
    step = SimilarityFilter(SimilarityFilter.Config(kind="similarity", name="meaning", field="clean", to="{{ ticket.text }}"))
    step.embedder = embedder
    assert step.inputs == {"clean", "ticket"} and step.outputs == ("meaning_similarity",)
    kept = step.render(record("I was charged twice for my order. Please refund one of the payments."))
    assert kept["meaning_similarity"] > 0.85


def test_changed_meaning_is_rejected_with_its_score(embedder):
    step = SimilarityFilter(SimilarityFilter.Config(kind="similarity", name="meaning", field="clean",
                                                    to="{{ ticket.text }}", min=0.6))
    step.embedder = embedder
    out = step.render(record("Thank you for contacting us, we will get back to you soon."))
    assert isinstance(out, Rejected) and out.reason == "meaning_changed"
    assert out.fields["meaning_similarity"] < 0.6 and "< 0.6" in out.detail

import pytest

from synthloom.corpus import ingest, load_index
from tests.conftest import ROOT

EXAMPLE = ROOT / "data" / "corpus" / "earth_science"


@pytest.fixture
def index(docs, tmp_path, embedder):
    ingest([docs], tmp_path / "c", embedder=embedder)
    return load_index(tmp_path / "c", embedder)


@pytest.mark.parametrize("question,doc,needle", [
    ("How do honeybees tell each other where flowers are?", "honeybees.md", "waggle"),
    ("Which enzyme fixes carbon dioxide in the Calvin cycle?", "photosynthesis.md", "RuBisCO"),
    ("How long is the central span of the Akashi Kaikyo Bridge?", "bridges.txt", "1,991"),
    ("Who designed the lighthouse tower that was lit in 1882?", "lighthouse.html", "Douglass"),
])
@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_a_planted_question_finds_its_chunk_in_the_top_3(index, question, doc, needle, mode):
    hits = index.search(question, 3, mode)
    assert any(h.chunk.doc == doc and needle in h.chunk.text for h in hits), [h.chunk.id for h in hits]


def test_search_is_deterministic_and_honours_exclude(index):
    first = index.search("bridge", 3)
    assert [h.chunk.id for h in first] == [h.chunk.id for h in index.search("bridge", 3)]
    again = index.search("bridge", 3, exclude=[first[0].chunk.id])
    assert first[0].chunk.id not in [h.chunk.id for h in again]


def test_a_query_with_no_known_words_still_returns_dense_results(index):
    hits = index.search("zzqx", 2)
    assert len(hits) == 2 and all(h.bm25_rank == 0 for h in hits)


PLANTED = [  # (question, document, a phrase of the answer) for the shipped example corpus
    ("What fraction of the water on Earth is in the oceans?", "water_cycle.md"),
    ("What kind of boundary forms where two plates move apart?", "plate_tectonics.md"),
    ("What is the difference between magma and lava?", "volcanoes.md"),
    ("Which layer of the atmosphere contains the ozone layer?", "the_atmosphere.md"),
    ("How do scientists measure the size of an earthquake?", "earthquakes.html"),
    ("Why are there two high tides each day?", "ocean_tides.html"),
    ("How does sedimentary rock form?", "rock_cycle.txt"),
    ("How do glaciers move?", "glaciers.pdf"),
]


@pytest.fixture(scope="module")
def example_index(tmp_path_factory):
    if not EXAMPLE.exists():
        pytest.skip("no example corpus")
    from synthloom.corpus.embed import load_embedder

    out = tmp_path_factory.mktemp("example") / "c"
    embedder = load_embedder()
    ingest([EXAMPLE], out, embedder=embedder)
    return load_index(out, embedder)


@pytest.mark.parametrize("question,doc", PLANTED)
def test_example_corpus_questions_find_their_document(example_index, question, doc):
    assert doc in [h.chunk.doc for h in example_index.search(question, 3)]


def test_a_pickled_index_searches_the_same_without_its_directory(index, tmp_path):
    """What a Ray worker receives: the index whole, usable where the corpus directory is not."""
    import pickle
    import shutil

    data = pickle.dumps(index)
    shutil.rmtree(tmp_path / "c")
    back = pickle.loads(data)
    assert len(data) < 5_000_000  # the embedder's weights are loaded on arrival, not shipped
    for question in ("bridge span", "honeybees waggle dance", "zzqx"):
        for mode in ("hybrid", "bm25", "dense"):
            assert [(h.chunk.id, h.score, h.bm25_rank, h.dense_rank) for h in back.search(question, 4, mode)] == \
                   [(h.chunk.id, h.score, h.bm25_rank, h.dense_rank) for h in index.search(question, 4, mode)]

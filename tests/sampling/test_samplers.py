from collections import Counter

import pytest

from synthloom.sampling import CoverageSampler, EntityList, UniformSampler, WeightedSampler, make_sampler

ITEMS = EntityList("xs", tuple(f"item{i}" for i in range(37)))


def test_coverage_uses_every_item_before_any_repeats():
    sampler = CoverageSampler(ITEMS, seed=3, slot="x")
    for deck in range(4):
        values = [sampler.sample(i) for i in range(deck * 37, (deck + 1) * 37)]
        assert sorted(values) == sorted(ITEMS.items), f"deck {deck} is not a permutation"


def test_coverage_decks_are_shuffled_differently():
    sampler = CoverageSampler(ITEMS, seed=3, slot="x")
    first = [sampler.sample(i) for i in range(37)]
    second = [sampler.sample(i) for i in range(37, 74)]
    assert first != second
    assert first != list(ITEMS.items)


def test_coverage_balances_labels_exactly():
    labels = EntityList("labels", ("positive", "negative", "neutral"))
    sampler = make_sampler("coverage", labels, seed=1, slot="label")
    counts = Counter(sampler.sample(i) for i in range(300))
    assert counts == {"positive": 100, "negative": 100, "neutral": 100}


def test_coverage_k_items_are_distinct_even_across_deck_boundaries():
    small = EntityList("f", ("a", "b", "c", "d", "e"))
    sampler = CoverageSampler(small, seed=0, slot="f", k=2)
    for i in range(200):
        pair = sampler.sample(i)
        assert len(set(pair)) == 2, (i, pair)
    used = Counter(x for i in range(50) for x in sampler.sample(i))
    assert max(used.values()) - min(used.values()) <= 2


@pytest.mark.parametrize("kind", ["uniform", "weighted", "coverage"])
def test_samplers_are_reproducible_and_random_access(kind):
    a = make_sampler(kind, ITEMS, seed=11, slot="s", k=2)
    b = make_sampler(kind, ITEMS, seed=11, slot="s", k=2)
    forward = [a.sample(i) for i in range(100)]
    backward = [b.sample(i) for i in reversed(range(100))][::-1]
    assert forward == backward
    other_seed = make_sampler(kind, ITEMS, seed=12, slot="s", k=2)
    assert forward != [other_seed.sample(i) for i in range(100)]


def test_uniform_k_gives_distinct_items():
    sampler = UniformSampler(ITEMS, seed=1, slot="s", k=5)
    for i in range(100):
        assert len(set(sampler.sample(i))) == 5


def test_weighted_follows_weights():
    entity = EntityList("w", ("common", "rare"), (9.0, 1.0))
    sampler = WeightedSampler(entity, seed=5, slot="w")
    counts = Counter(sampler.sample(i) for i in range(5000))
    assert 0.87 < counts["common"] / 5000 < 0.93


def test_slots_sample_independently():
    a = make_sampler("uniform", ITEMS, seed=1, slot="a")
    b = make_sampler("uniform", ITEMS, seed=1, slot="b")
    assert [a.sample(i) for i in range(50)] != [b.sample(i) for i in range(50)]


def test_k_larger_than_list_is_refused():
    with pytest.raises(ValueError, match="only 37 items"):
        make_sampler("uniform", ITEMS, seed=1, slot="s", k=38)


def test_coverage_refuses_unequal_weights():
    with pytest.raises(ValueError, match="weighted"):
        make_sampler("coverage", EntityList("w", ("a", "b"), (1.0, 2.0)), seed=1, slot="s")

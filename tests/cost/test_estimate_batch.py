"""`synthloom estimate --batch`: the batch price beside the online one, and what prompt caching could save."""

import re

from tests.conftest import SMALL_RECIPE, run_cli

WITH_SYSTEM = SMALL_RECIPE.replace(
    '    params: {temperature: 0.9, max_tokens: 40}',
    '    system: "You are a patient storyteller who writes for small children and keeps every sentence short."\n'
    '    params: {temperature: 0.9, max_tokens: 40}')


def test_estimate_shows_online_and_batch_prices_side_by_side(write_recipe):
    result = run_cli("estimate", write_recipe(), "-n", "1000", "--backend", "fake", "--batch",
                     "--price-in", "2", "--price-out", "6")
    assert result.returncode == 0, result.stderr
    assert "batch cost" in result.stdout
    online = float(re.search(r"output tokens = \$([\d.,]+)", result.stdout).group(1).replace(",", ""))
    batch = float(re.search(r"through the batch API \(--batch\): \$([\d.,]+)", result.stdout).group(1).replace(",", ""))
    assert abs(batch - online / 2) < 0.01


def test_estimate_says_what_caching_the_shared_prefix_would_save(write_recipe, tmp_path):
    recipe = write_recipe(WITH_SYSTEM + "prices: {fake: {input: 2.0, output: 6.0, cached_input: 0.2}}\n")
    result = run_cli("estimate", recipe, "-n", "1000", "--backend", "fake", "--json")
    assert result.returncode == 0, result.stderr
    import json

    e = json.loads(result.stdout)
    shared = e["stages"]["story"]["shared_prefix_tokens"]
    assert shared > 0 and e["stages"]["title"]["shared_prefix_tokens"] == 0
    assert abs(e["caching_saves"] - shared * (2.0 - 0.2) / 1e6) < 1e-9

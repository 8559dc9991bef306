"""Constraint verification: inflected word forms, features, regeneration with feedback, adherence."""

import pytest

from synthloom import api
from synthloom.backends import Response
from synthloom.backends.fake import FakeBackend
from synthloom.curate.summary import adherence
from synthloom.curate.verify.constraints import ConstraintConfig, ConstraintStage, uses_word
from synthloom.errors import RecipeError
from synthloom.recipe import parse_recipe
from synthloom.record import Record, Rejected
from synthloom.stages import GenerateConfig, GenerateStage


@pytest.mark.parametrize("word,text,found", [
    ("decorate", "They decorated the tree.", True),
    ("decorate", "She was decorating it.", True),
    ("thunder", "Thunders rolled over the hill.", True),
    ("ancient", "An ancient wall.", True),
    ("run", "The dog ran home.", True),
    ("ice cream", "We ate ice creams.", True),
    ("cat", "The category was wrong.", False),
    ("thunder", "It was thunderous.", False),
    ("ancient", "", False),
])
def test_word_forms(word, text, found):
    assert uses_word(text, word) is found


def stages(tries=3, feedback="follow_up", features=True):
    story = GenerateStage(GenerateConfig(name="story", prompt="Use {{ verb }} and {{ noun }}."))
    config = ConstraintConfig(field="story", words=["verb", "noun"], tries=tries, feedback=feedback,
                              features={"slot": "features", "checks": {"dialogue": "quoted_speech"}} if features else None)
    check = ConstraintStage(config)
    check.bind({"story": story})
    return story, check


def record(text):
    return Record(0, "r", {"verb": "decorate", "noun": "thunder", "features": ["a dialogue", "a bad ending"]}, {"story": text})


def test_all_present_passes_on_the_first_try():
    _, check = stages()
    result = check.render(record('The thunder boomed. "Let us decorate," said Sam.'))
    assert result["constraints"] == {"tries": 1, "required": 3, "first_missing": [], "missing": []}


def test_miss_asks_the_story_stage_again_naming_what_is_missing():
    story, check = stages()
    rec = record("The thunder boomed.")
    follow = check.render(rec)
    assert follow.messages[0]["content"] == "Use decorate and thunder."
    assert follow.messages[1] == {"role": "assistant", "content": "The thunder boomed."}
    assert 'the word "decorate"' in follow.messages[2]["content"] and 'feature "a dialogue"' in follow.messages[2]["content"]
    assert follow.seed != story.render(rec).seed
    result = check.parse(Response('Thunders came. "We decorated!" they said.'), rec)
    assert result["story"] == 'Thunders came. "We decorated!" they said.'
    assert result["constraints"]["tries"] == 2
    assert result["constraints"]["first_missing"] == ['the word "decorate"', 'the feature "a dialogue"']
    assert result["constraints"]["missing"] == []


def test_note_repeats_the_prompt_with_a_line_naming_the_miss():
    story, check = stages(feedback="note")
    rec = record("The thunder boomed.")
    follow = check.render(rec)
    assert len(follow.messages) == 1
    assert follow.messages[0]["content"] == ('Use decorate and thunder.\n\nImportant: your text must include '
                                             'the word "decorate", the feature "a dialogue".')


def test_without_feedback_only_the_seed_changes():
    story, check = stages(feedback="none")
    rec = record("Nothing here.")
    follow = check.render(rec)
    assert list(follow.messages) == list(story.render(rec).messages) and follow.seed != story.render(rec).seed


def test_rejected_after_tries_with_what_is_missing_on_the_row():
    _, check = stages(tries=2)
    rec = record("Nothing here.")
    check.render(rec)
    result = check.parse(Response("Still nothing, but thunder."), rec)
    assert isinstance(result, Rejected) and result.reason == "constraint_missed"
    assert "decorate" in result.detail and "2 generations" in result.detail
    assert result.fields["story"] == "Still nothing, but thunder."
    assert result.fields["constraints"]["missing"] == ['the word "decorate"', 'the feature "a dialogue"']


def test_tries_one_only_checks():
    _, check = stages(tries=1)
    assert check.render(record("Nothing here.")).reason == "constraint_missed"


def test_adherence_before_and_after():
    infos = [{"tries": 1, "required": 3, "first_missing": [], "missing": []},
             {"tries": 2, "required": 3, "first_missing": ["a"], "missing": []},
             {"tries": 2, "required": 3, "first_missing": ["a", "b"], "missing": ["b"]}]
    figures = adherence(infos)
    assert figures["before"] == {"all": round(1 / 3, 4), "items": round(6 / 9, 4)}
    assert figures["after"] == {"all": round(2 / 3, 4), "items": round(8 / 9, 4)}
    assert figures["generation_requests"] == 5 and figures["requests_per_record"] == round(5 / 3, 4)


RECIPE = """\
name: words
seed: 1
entities:
  verbs: [jump]
  nouns: [cat]
slots: {verb: verbs, noun: nouns}
stages:
  - name: story
    prompt: "Use {{ verb }} and {{ noun }}."
curate:
  - {kind: constraints, name: uses, field: story, words: [verb, noun], tries: 2}
"""


def test_run_regenerates_and_reports_adherence(tmp_path):
    backend = FakeBackend(replies=["no words", "she jumped over the cats", "jump cat", "nothing", "still nothing"])
    result = api.run(parse_recipe(RECIPE, base_dir=tmp_path), 3, tmp_path / "out", backend=backend,
                     options=api.RunOptions(sequential=True))
    assert (result.kept, result.rejected) == (2, 1)
    assert len(backend.requests) == 5  # 2 + 1 + 2 generations
    figures = result.curation["constraints"]["uses"]
    assert figures["before"]["all"] == round(1 / 3, 4) and figures["after"]["all"] == round(2 / 3, 4)
    assert result.curation["dropped"] == {"dropped_constraint_missed": 1}
    import json

    rejected = [json.loads(line) for line in (tmp_path / "out" / "rejected.jsonl").read_text().splitlines()]
    assert rejected[0]["stage"] == "uses" and rejected[0]["reason"] == "constraint_missed"
    assert rejected[0]["row"]["story"] == "still nothing"
    # a resumed run asks nothing again
    again = FakeBackend()
    api.run(parse_recipe(RECIPE, base_dir=tmp_path), 3, tmp_path / "out", backend=again)
    assert again.requests == []


def test_regenerate_must_name_an_earlier_generate_stage(tmp_path):
    bad = RECIPE.replace("tries: 2}", "tries: 2, regenerate: title}")
    with pytest.raises(RecipeError, match=r"curate\[0\]\.regenerate.*title"):
        api.run(parse_recipe(bad, base_dir=tmp_path), 1, tmp_path / "out", backend=FakeBackend())

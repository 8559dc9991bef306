import json

from synthloom.cli import main
from synthloom.prepare.trees import parse_subtopics
from synthloom.sampling.trees import tree_items

TREE = {"topic": "Philosophy", "children": [
    {"topic": "Eastern", "children": [{"topic": "Buddhist", "children": []}, {"topic": "Taoist", "children": []}]},
    {"topic": "Western", "children": []}]}


def test_parse_subtopics_cleans_lists():
    reply = ('Here are three subtopics of "Philosophy":\n1. Eastern philosophy\n- **Western philosophy**\n'
             "* Eastern Philosophy.\n\n3) Philosophy\nA very long line that goes on and on about many many things at once\nLogic")
    assert parse_subtopics(reply, "Philosophy", 5, 0.85) == ["Eastern philosophy", "Western philosophy", "Logic"]
    assert parse_subtopics(reply, "Philosophy", 2, 0.85) == ["Eastern philosophy", "Western philosophy"]


def test_near_duplicate_siblings_are_merged_but_not_look_alikes():
    reply = "Buddhism\nBuddhist philosophy\nTaoism\nThe Taoist tradition's ideas"
    assert parse_subtopics(reply, "Eastern philosophy", 5, 0.85) == ["Buddhism", "Taoism", "The Taoist tradition's ideas"]
    assert parse_subtopics("Eastern philosophy\nWestern philosophy", "Philosophy", 5, 0.85) == ["Eastern philosophy", "Western philosophy"]


def test_tree_items():
    assert tree_items(TREE, "leaves") == ["Buddhist", "Taoist", "Western"]
    assert tree_items(TREE, "paths") == ["Philosophy > Eastern > Buddhist", "Philosophy > Eastern > Taoist", "Philosophy > Western"]
    assert tree_items(TREE, "all") == ["Eastern", "Buddhist", "Taoist", "Western"]


def run(out, recipe="recipes/topic_tree.yaml", n=9):
    assert main(["run", recipe, "-n", str(n), "--dry-run", "--quiet", "--out", str(out)]) == 0
    return [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()], json.loads((out / "run.json").read_text())


def test_tree_is_saved_reused_and_edits_are_respected(tmp_path):
    rows, summary = run(tmp_path)
    tree = json.loads((tmp_path / "topic_tree.json").read_text())
    paths = tree_items(tree, "paths")
    assert len(paths) == 9 and sorted(r["topic"] for r in rows) == sorted(paths)
    assert summary["this_run"]["requests_sent"] == 4 + 9  # 1 root + 3 nodes, then the records

    _, again = run(tmp_path)
    assert again["this_run"]["requests_sent"] == 0

    tree["children"] = [{"topic": "Aesthetics", "children": [{"topic": "Beauty", "children": []}]}]
    (tmp_path / "topic_tree.json").write_text(json.dumps(tree))
    rows, edited = run(tmp_path, n=1)
    assert {r["topic"] for r in rows} == {"Philosophy > Aesthetics > Beauty"}
    assert edited["this_run"]["requests_sent"] == 1, "only the new topic's record is new"


def test_tree_from_a_file(tmp_path):
    (tmp_path / "tree.json").write_text(json.dumps(TREE))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(open("recipes/topic_tree.yaml").read().replace("      root: Philosophy\n", "      root: Philosophy\n      file: tree.json\n"))
    rows, summary = run(tmp_path / "o", str(recipe), n=3)
    assert sorted(r["topic"] for r in rows) == tree_items(TREE, "paths")
    assert summary["this_run"]["requests_sent"] == 3


def test_long_subtopic_lines_keep_their_leading_phrase():
    """SmolLM2 writes a sentence per subtopic; its head is the subtopic (this reply used to give an empty tree)."""
    reply = ('Here are three distinct, specific subtopics of the topic "Philosophy":\n\n'
             "1. The nature of knowledge and its role in shaping our understanding of reality.\n"
             "2. The ethics of philosophy in relation to scientific knowledge and the role of science.\n"
             "3. The human limitations and the role of philosophy in exploring the boundaries of knowledge.")
    assert parse_subtopics(reply, "Philosophy", 3, 0.85) == [
        "The nature of knowledge", "The ethics of philosophy", "The human limitations"]
    assert parse_subtopics("Ethics and politics", "Philosophy", 3, 0.85) == ["Ethics and politics"]

#!/usr/bin/env python3
"""Build the child-level vocabulary in data/vocab/ (nouns, verbs, adjectives).

The vocabulary mirrors the TinyStories setup (Eldan & Li, 2023): about 1,500
basic English words a young child knows, split into nouns, verbs and
adjectives.  It is built from three public sources:

* the Revised Spache (1974) list of simple words  -- npm package ``spache``
* the New Dale-Chall (1995) list of familiar words -- npm package ``dale-chall``
* WordNet 3.0 (Debian package ``wordnet-base``) for lemmas, parts of speech
  and SemCor sense-tag frequencies.

Usage (standard library only, Python >= 3.11)::

    tmp=$(mktemp -d) && (cd "$tmp" && npm install spache@2.0.1 dale-chall@2.0.1)
    apt-get update && apt-get install -y wordnet-base
    python3 scripts/build_vocab.py \\
        --spache "$tmp/node_modules/spache/index.js" \\
        --dale-chall "$tmp/node_modules/dale-chall/index.js" \\
        --wordnet /usr/share/wordnet --out data/vocab

Arguments (all optional):

``--spache PATH`` / ``--dale-chall PATH``
    The word lists.  Accepted formats: the packages' ``index.js`` (an ESM
    module exporting an array of quoted strings), a ``.json`` array, or plain
    text with one word per line.  Default: ``node_modules/<pkg>/index.js``
    searched for in the current directory, its parents and each directory of
    ``$NODE_PATH``.
``--wordnet DIR``
    WordNet 3.0 dictionary directory (``index.*``, ``data.*``, ``*.exc``,
    ``cntlist.rev``).  Default: ``$WNSEARCHDIR`` or ``/usr/share/wordnet``.
``--out DIR``
    Output directory.  Default: ``data/vocab`` next to this script's parent.
``--target N``
    Total vocabulary size to reach (default 1500).
``--pos-signal {freq,tagsense}``
    Primary-POS signal (default ``freq``; see Method 4).
``-v``
    Log skipped and lemmatised entries to stderr.

Method
------
1. Candidates: every Spache word (in list order), then the Dale-Chall words
   that are not already taken, ordered by descending SemCor frequency (sum of
   the ``cntlist.rev`` tag counts of the word's common-noun, verb and
   adjective senses; ties alphabetical).  Dale-Chall words are added until
   the vocabulary holds ``--target`` words; the frequency tier in which the
   target is reached is completed, so the total can end slightly above it.
2. Skipped: entries with anything but ``a-z`` (contractions, multi-word and
   hyphenated entries, abbreviations such as ``mr.``); words shorter than 3
   letters; function words (pronouns, articles, determiners/quantifiers,
   prepositions, conjunctions, auxiliaries/modals, numbers, interjections;
   see ``FUNCTION_WORDS``); words WordNet does not know as a noun, verb or
   adjective; words mainly used as adverbs (SemCor adverb frequency more than
   ``ADVERB_RATIO`` times the noun+verb+adjective frequency: now, very,
   only, away ...).  Proper nouns and abbreviations are handled by counting
   only WordNet senses in which the word is written in lower case
   ("common" senses): ``sunday``, ``english`` or ``he`` (helium, He) have no
   common sense and are dropped.  ``UNSUITABLE`` lists a few words left out
   on purpose for children's stories (negro, gay, hell, beer, murder ...).
3. Lemmatisation (list entries are surface forms):
   * irregular forms from WordNet's ``noun.exc``/``verb.exc``/``adj.exc``
     (ate, children, went, better) are reduced to their base form, unless
     the form is a noun in its own right: its own common noun senses, not
     counting a POS where it is the listed inflection, have a SemCor
     frequency >= ``KEEP_IRREGULAR_NOUN_FREQ`` (ground, thought, bit) or
     the base form is in neither source list (stove, not "stave").
     Comparatives/superlatives (adj.exc) are always reduced.
   * regular forms found with WordNet's morphy suffix rules (acts, babies,
     baking) are reduced unless the form is itself a WordNet lemma and
     either has SemCor frequency >= ``KEEP_REGULAR_FREQ`` (building,
     evening, clothes) or its base is in neither source list (pants, not
     "pant").  The adjective rules (-er/-est) only apply when the form is
     not a lemma at all.
   A reduced lemma remembers the POS of the inflection (teeth -> tooth:
   noun; overalls -> overall: noun, not the adjective).  Then the vocabulary
   is deduplicated (first occurrence wins; an unreduced occurrence lifts the
   POS restriction).
4. Primary POS, one per word: among the POSes (noun, verb, adjective;
   WordNet ``a`` and ``s`` satellites both count as adjective, adverbs
   ignored) in which the word has a common sense, the one with the highest
   SemCor frequency (``cntlist.rev``), then the highest ``tagsense_cnt``
   (number of SemCor-tagged senses), then noun > verb > adjective.
   ``--pos-signal tagsense`` uses ``tagsense_cnt`` alone (then noun > verb >
   adjective); it counts senses, not occurrences, so it favours polysemous
   POSes and turns e.g. blue, green, walk, want, love, smile into nouns and
   kid, finger, shoulder into verbs, hence the frequency default.
5. Output: ``nouns.txt``, ``verbs.txt``, ``adjectives.txt`` -- one lowercase
   word per line, sorted, UTF-8, trailing newline.  Every choice is made in
   a fixed order, so the same inputs give byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import defaultdict
from pathlib import Path

POSES = ("noun", "verb", "adj")
ALL_POSES = POSES + ("adv",)
SS_TYPE = {"1": "noun", "2": "verb", "3": "adj", "4": "adv", "5": "adj"}
OUT_FILES = {"noun": "nouns.txt", "verb": "verbs.txt", "adj": "adjectives.txt"}
TIE_ORDER = {"noun": 0, "verb": 1, "adj": 2}

MIN_LEN = 3
ADVERB_RATIO = 3
KEEP_IRREGULAR_NOUN_FREQ = 5
KEEP_REGULAR_FREQ = 5

# WordNet's morphy detachment rules (wordnet(7) "morphy").
SUFFIX_RULES = {
    "noun": [("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"),
             ("ches", "ch"), ("shes", "sh"), ("men", "man"), ("ies", "y")],
    "verb": [("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"),
             ("ed", ""), ("ing", "e"), ("ing", "")],
    "adj": [("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
}

FUNCTION_WORDS = frozenset("""
    a an the
    i me my mine myself you your yours yourself yourselves he him his himself
    she her hers herself it its itself we us our ours ourselves they them
    their theirs themselves who whom whose which what whatever whoever that
    this these those anyone anybody anything everyone everybody everything
    someone somebody something nobody nothing none one ones oneself
    all any each every few many more most much less least no some such both
    either neither another other others several enough own same next lot
    lots plenty
    about above across after against along alongside among amid around at
    before behind below beneath beside besides between beyond but by down
    during except for from in inside into of off on onto out outside over
    past per since than through throughout till to toward towards under
    underneath until unto up upon via with within without
    and or nor so yet because if unless although though while whether as
    whereas however therefore
    am is are was were be been being have has had having do does did doing
    done can could shall should will would may might must ought
    zero one two three four five six seven eight nine ten eleven twelve
    thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty
    thirty forty fifty sixty seventy eighty ninety hundred thousand million
    billion dozen first second third fourth fifth sixth seventh eighth ninth
    tenth twelfth once twice
    not yes yeah okay hello hey goodbye bye please thanks oh ouch hurrah
    hurray hooray
    how when where why whenever wherever here there then now
""".split())

# Listed words left out on purpose: dated senses that now read as slurs or
# identity terms, profanity, alcohol/tobacco, slavery and killing.
UNSUITABLE = frozenset("""
    negro gay queer dumb hell beer whisky wine cigarette slave murder pistol
    bullet
""".split())


# ---------------------------------------------------------------- inputs
def find_default(pkg: str) -> Path | None:
    roots = [Path.cwd(), *Path.cwd().parents]
    roots += [Path(p).parent for p in os.environ.get("NODE_PATH", "").split(os.pathsep) if p]
    for root in roots:
        for cand in (root / "node_modules" / pkg / "index.js",
                     root / pkg / "index.js"):
            if cand.is_file():
                return cand
    return None


def load_wordlist(path: Path) -> list[str]:
    """Return the list's entries in file order."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return [str(w) for w in json.loads(text)]
    if path.suffix in (".js", ".mjs", ".cjs"):
        m = re.search(r"=\s*\[(.*)\]", text, re.S)
        if not m:
            raise SystemExit(f"{path}: no array literal found")
        body = m.group(1)
        words = []
        for sq, dq in re.findall(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", body):
            raw = sq if sq or not dq else dq
            words.append(re.sub(r"\\(.)", r"\1", raw))
        return words
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


# ---------------------------------------------------------------- WordNet
class WordNet:
    def __init__(self, root: Path):
        self.root = root
        self.index: dict[str, dict[str, tuple[int, list[int]]]] = {}
        for pos in ALL_POSES:
            table = {}
            with open(root / f"index.{pos}", encoding="utf-8") as fh:
                for line in fh:
                    if line.startswith(" "):
                        continue  # licence header
                    f = line.split()
                    lemma, synset_cnt, p_cnt = f[0], int(f[2]), int(f[3])
                    rest = f[4 + p_cnt:]
                    tagsense_cnt = int(rest[1])
                    offsets = [int(o) for o in rest[2:2 + synset_cnt]]
                    table[lemma] = (tagsense_cnt, offsets)
            self.index[pos] = table
        self.exc: dict[str, dict[str, list[str]]] = {}
        for pos in POSES:
            table = {}
            with open(root / f"{pos}.exc", encoding="utf-8") as fh:
                for line in fh:
                    f = line.split()
                    table.setdefault(f[0], []).extend(f[1:])
            self.exc[pos] = table
        self.counts: dict[tuple[str, str, int], int] = defaultdict(int)
        with open(root / "cntlist.rev", encoding="utf-8") as fh:
            for line in fh:
                key, sense_no, cnt = line.split()
                lemma, lex = key.split("%", 1)
                self.counts[(lemma, SS_TYPE[lex[0]], int(sense_no))] += int(cnt)
        self._data = {pos: open(root / f"data.{pos}", "rb") for pos in ALL_POSES}
        self._words_cache: dict[tuple[str, int], tuple[str, ...]] = {}
        self._stats_cache: dict[tuple[str, str], tuple[int, int, int] | None] = {}

    def _synset_words(self, pos: str, offset: int) -> tuple[str, ...]:
        key = (pos, offset)
        if key not in self._words_cache:
            fh = self._data[pos]
            fh.seek(offset)
            f = fh.readline().decode("utf-8").split()
            n = int(f[3], 16)
            # strip adjective markers such as "(a)", "(p)", "(ip)"
            self._words_cache[key] = tuple(re.sub(r"\([a-z]+\)$", "", f[4 + 2 * i])
                                           for i in range(n))
        return self._words_cache[key]

    def stats(self, word: str, pos: str) -> tuple[int, int, int] | None:
        """(tagsense_cnt, semcor_freq, n_senses) over the word's common
        (lower-case) senses in POS, or None if it has none."""
        key = (word, pos)
        if key in self._stats_cache:
            return self._stats_cache[key]
        result = None
        entry = self.index[pos].get(word)
        if entry:
            tagsense_cnt, offsets = entry
            tagged = freq = n = 0
            for i, off in enumerate(offsets):
                if word not in self._synset_words(pos, off):
                    continue  # only capitalised here: proper noun / abbreviation
                n += 1
                if i < tagsense_cnt:
                    tagged += 1
                freq += self.counts.get((word, pos, i + 1), 0)
            if n:
                result = (tagged, freq, n)
        self._stats_cache[key] = result
        return result

    def freq(self, word: str, poses=POSES) -> int:
        return sum(s[1] for p in poses if (s := self.stats(word, p)))

    def known(self, word: str) -> bool:
        return any(self.stats(word, p) for p in POSES)

    def primary_pos(self, word: str, signal: str = "freq",
                    allowed: frozenset[str] | None = None) -> str:
        """POS with the highest SemCor frequency (then tagsense_cnt), or with
        the highest tagsense_cnt when signal == "tagsense"; ties -> noun >
        verb > adjective.  ``allowed`` restricts the choice (the POS implied
        by the inflection a list entry was reduced from), if possible."""
        scored = []
        for p in POSES:
            if s := self.stats(word, p):
                key = (-s[1], -s[0]) if signal == "freq" else (-s[0],)
                scored.append((p not in (allowed or POSES), *key, TIE_ORDER[p], p))
        return min(scored)[-1]


# ---------------------------------------------------------------- lemmatise
Lemma = tuple[str, frozenset[str] | None]  # (lemma, POSes implied or None)


def lemmatise(word: str, wn: WordNet, listed: set[str]) -> Lemma:
    """Map a surface form to the lemma used in the vocabulary."""
    # 1. irregular forms (WordNet exception lists)
    # (an entry that also lists the form as its own base, e.g. adj.exc
    # "offer off offer", is ambiguous and is not treated as an inflection)
    irregular = sorted((p, b) for p in POSES for b in wn.exc[p].get(word, [])
                       if b != word and word not in wn.exc[p][word]
                       and wn.known(b))
    if irregular:
        exc_poses = {p for p, _ in irregular}
        in_lists = [b for _, b in irregular if b in listed]
        own_noun = 0 if "noun" in exc_poses else wn.freq(word, ("noun",))
        comparative = "adj" in exc_poses
        if wn.known(word) and not comparative and (
                own_noun >= KEEP_IRREGULAR_NOUN_FREQ or not in_lists):
            return word, None
        return pick_base(irregular, wn, listed)
    # 2. regular inflections (morphy suffix rules)
    is_lemma = wn.known(word)
    cands = []
    for pos in POSES:
        if pos == "adj" and is_lemma:
            continue
        for suffix, repl in SUFFIX_RULES[pos]:
            if word.endswith(suffix) and len(word) > len(suffix):
                base = word[: -len(suffix)] + repl
                if base != word and wn.stats(base, pos):
                    cands.append((pos, base))
    if not cands:
        return word, None
    if is_lemma:
        cands = [(p, b) for p, b in cands if b in listed]
        if not cands or wn.freq(word) >= KEEP_REGULAR_FREQ:
            return word, None
    return pick_base(cands, wn, listed)


def pick_base(cands: list[tuple[str, str]], wn: WordNet, listed: set[str]) -> Lemma:
    """Among (pos, base) candidates prefer a base that is in a source list,
    then the most frequent one; return it with the POSes that derive it."""
    base = min({b for _, b in cands}, key=lambda b: (b not in listed, -wn.freq(b), b))
    return base, frozenset(p for p, b in cands if b == base)


def pre_skip_reason(word: str) -> str | None:
    """Checks on the surface form, before lemmatisation."""
    if not re.fullmatch(r"[a-z]+", word):
        return "not a single plain word"
    if len(word) < MIN_LEN:
        return "too short"
    if word in FUNCTION_WORDS:
        return "function word"
    if word in UNSUITABLE:
        return "unsuitable for children's stories"
    return None


def skip_reason(word: str, wn: WordNet) -> str | None:
    """Checks on the lemma."""
    if reason := pre_skip_reason(word):
        return reason
    if not wn.known(word):
        return "not a common noun/verb/adjective in WordNet"
    adv = wn.freq(word, ("adv",))
    if adv > ADVERB_RATIO * wn.freq(word):
        return "mainly an adverb"
    return None


# ---------------------------------------------------------------- build
def build(spache: list[str], dale_chall: list[str], wn: WordNet, target: int,
          pos_signal: str = "freq", log=None) -> dict[str, list[str]]:
    listed = {w.strip().lower() for w in spache + dale_chall}
    # lemma -> POSes implied by the entries it came from (None: any), in
    # insertion order
    vocab: dict[str, frozenset[str] | None] = {}

    def consider(surface: str, source: str) -> None:
        word = surface.strip().lower()
        allowed = None
        reason = pre_skip_reason(word)
        if reason is None:
            word, allowed = lemmatise(word, wn, listed)
            reason = skip_reason(word, wn)
        if reason:
            if log:
                log(f"skip {source} {surface!r}: {reason}")
            return
        if word in vocab:
            old = vocab[word]
            vocab[word] = None if old is None or allowed is None else old | allowed
            return
        if log and word != surface:
            log(f"lemma {source} {surface!r} -> {word!r} {sorted(allowed or [])}")
        vocab[word] = allowed

    for w in spache:
        consider(w, "spache")
    n_spache = len(vocab)

    def rank(w: str):
        lemma = lemmatise(w, wn, listed)[0] if pre_skip_reason(w) is None else w
        return (-wn.freq(lemma), w)

    cut = None  # frequency tier in which the target was reached
    for w in sorted({w.strip().lower() for w in dale_chall}, key=rank):
        freq = rank(w)[0]
        if cut is not None and freq != cut:
            break  # finish the tier rather than cut it alphabetically
        consider(w, "dale-chall")
        if cut is None and len(vocab) >= target:
            cut = freq
    if log:
        log(f"spache lemmas: {n_spache}; dale-chall added: {len(vocab) - n_spache}")

    lists: dict[str, list[str]] = {p: [] for p in POSES}
    for word, allowed in vocab.items():
        lists[wn.primary_pos(word, pos_signal, allowed)].append(word)
    return {p: sorted(ws) for p, ws in lists.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spache", type=Path, default=None)
    ap.add_argument("--dale-chall", type=Path, default=None)
    ap.add_argument("--wordnet", type=Path,
                    default=Path(os.environ.get("WNSEARCHDIR", "/usr/share/wordnet")))
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).resolve().parent.parent / "data" / "vocab")
    ap.add_argument("--target", type=int, default=1500)
    ap.add_argument("--pos-signal", choices=("freq", "tagsense"), default="freq",
                    help="primary-POS signal (default: SemCor frequency)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="log skipped and lemmatised entries to stderr")
    args = ap.parse_args(argv)

    spache_path = args.spache or find_default("spache")
    dc_path = args.dale_chall or find_default("dale-chall")
    if not spache_path or not dc_path:
        ap.error("word lists not found: pass --spache and --dale-chall "
                 "(npm install spache dale-chall)")
    if not (args.wordnet / "index.noun").is_file():
        ap.error(f"WordNet not found in {args.wordnet}: apt-get install wordnet-base")

    wn = WordNet(args.wordnet)
    log = (lambda msg: print(msg, file=sys.stderr)) if args.verbose else None
    lists = build(load_wordlist(spache_path), load_wordlist(dc_path), wn,
                  args.target, args.pos_signal, log)

    args.out.mkdir(parents=True, exist_ok=True)
    for pos, words in lists.items():
        with open(args.out / OUT_FILES[pos], "w", encoding="utf-8", newline="\n") as fh:
            fh.write("".join(w + "\n" for w in words))
        print(f"{OUT_FILES[pos]}: {len(words)}")
    print(f"total: {sum(len(w) for w in lists.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tokeniser for the offline reference search: English identifiers and Chinese text.

Kept separate from the index so the snippet builder and the tests can use exactly the same rules as the
ranking (a term that ranks a section must also be found when picking that section's snippet).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

# CJK Unified Ideographs (+ extension A and compatibility ideographs): searched as characters and bigrams,
# because Chinese has no spaces and a word segmenter would be a dependency.
_CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# An ASCII run joined by - . _ / : keeps identifiers such as `gpu-hpn`, `ecs.g7.xlarge`,
# `alibabacloud.com/compute-class` or `acf-` (the trailing hyphen of a prefix) in one piece.
_TOKEN_RE = re.compile(rf"[{_CJK_RANGES}]+|[A-Za-z0-9]+(?:[-._/:][A-Za-z0-9]+)*-?")
_COARSE_SPLIT_RE = re.compile(r"[/:]")
_ATOM_SPLIT_RE = re.compile(r"[-._/:]")
_CAMEL_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

# Words that carry no meaning in a question ("how do I ..."); IDF would mostly discount them, but they
# still add noise to short queries and snippets.
_STOPWORD_TEXT = """a an the is are was were be been am to of in on for and or how do does did i my me we our
you your what which why when where who can could would should will with it its this that these those by from
as at if so than then there into about any some just also get got please want need"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# Chinese function characters that appear in questions but say nothing about the topic.
CJK_STOP_CHARS = frozenset("的了吗呢么是在和与及我你他它请把被怎如何哪个这那有要")


_CJK_CHAR_RE = re.compile(rf"[{_CJK_RANGES}]")


def is_cjk(text: str) -> bool:
    """True when the first character is a CJK ideograph (tokens are never mixed)."""
    return bool(text) and _CJK_CHAR_RE.match(text, 0) is not None


def stem(word: str) -> str:
    """Very light English suffix stripping so `prices`, `pricing` and `priced` meet at `pric`.

    Deliberately crude and symmetric: the same function runs on documents and queries, so collisions are
    rare and harmless, and no dictionary is needed.
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ion", "ment", "ed", "al"):
        if word.endswith(suffix) and len(word) - len(suffix) >= (5 if suffix == "al" else 3):
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # running -> runn -> run
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


def _atom_terms(atom: str) -> list[str]:
    """Terms of one alphanumeric atom: itself (stemmed) plus its camelCase parts."""
    lowered = atom.lower()
    terms: list[str] = []
    if len(lowered) > 1 and lowered not in STOPWORDS:
        terms.append(stem(lowered))
    if atom != lowered and atom != atom.upper():
        parts = _CAMEL_RE.findall(atom)
        if len(parts) > 1:
            for part in parts:
                p = part.lower()
                if len(p) > 1 and p not in STOPWORDS:
                    terms.append(stem(p))
    return terms


def _ascii_terms(raw: str) -> list[str]:
    """Terms of a joined ASCII run: the whole identifier, its `/`-separated pieces, and every atom."""
    prefix = raw.endswith("-")
    core = raw.rstrip("-")
    terms: list[str] = []
    joined = core != "" and _ATOM_SPLIT_RE.search(core) is not None
    if joined:
        terms.append(core.lower())
    if prefix:
        terms.append(core.lower() + "-")
    if joined:
        coarse = [c for c in _COARSE_SPLIT_RE.split(core) if c]
        if len(coarse) > 1:
            terms.extend(c.lower() for c in coarse if _ATOM_SPLIT_RE.search(c))
        for atom in _ATOM_SPLIT_RE.split(core):
            if atom:
                terms.extend(_atom_terms(atom))
    else:
        terms.extend(_atom_terms(core))
    return terms


def tokenize_spans(text: str) -> Iterator[tuple[str, int, int]]:
    """Yield `(term, start, end)` for every index term in `text`, with the character span it came from.

    Chinese runs give every character (minus a few function characters) and every adjacent pair, so
    `虚拟节点` matches `虚拟节点`, `虚拟` and `节点` without a segmenter.
    """
    text = unicodedata.normalize("NFKC", text)
    for match in _TOKEN_RE.finditer(text):
        raw = match.group(0)
        start = match.start()
        if is_cjk(raw):
            for i, ch in enumerate(raw):
                if ch not in CJK_STOP_CHARS:
                    yield ch, start + i, start + i + 1
                if i + 1 < len(raw):
                    yield raw[i : i + 2], start + i, start + i + 2
        else:
            for term in _ascii_terms(raw):
                yield term, start, match.end()


CJK_UNIGRAM_QUERY_WEIGHT = 0.3


def query_weights(query: str) -> dict[str, float]:
    """Distinct query terms with a weight each, so one Chinese word does not outvote an English term.

    A run of n Chinese characters yields n-1 overlapping bigrams for roughly n/2 words, so each bigram
    counts (n/2)/(n-1); single characters are weak evidence and count CJK_UNIGRAM_QUERY_WEIGHT.
    """
    weights: dict[str, float] = {}
    for match in _TOKEN_RE.finditer(unicodedata.normalize("NFKC", query)):
        raw = match.group(0)
        if is_cjk(raw):
            n = len(raw)
            bigram = 1.0 if n <= 2 else (n / 2) / (n - 1)
            pairs = [
                (term, CJK_UNIGRAM_QUERY_WEIGHT if len(term) == 1 else bigram) for term, _s, _e in tokenize_spans(raw)
            ]
        else:
            pairs = [(term, 1.0) for term in _ascii_terms(raw)]
        for term, weight in pairs:
            weights[term] = max(weights.get(term, 0.0), weight)
    return weights


def tokenize(text: str) -> list[str]:
    """Index terms of `text`, in order, with repeats (term frequency matters to BM25)."""
    return [term for term, _start, _end in tokenize_spans(text)]

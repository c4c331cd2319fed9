"""Offline search over the project's reference documents (`ack_compute.references/*.md`).

The agent needs answers about ACK, ACS and this server without a network call to a vendor's help site, so
the bundled Markdown is split into H2/H3 sections and ranked with BM25 (heading and title terms weighted
higher). English identifiers and Chinese text are both tokenised (see `doc_tokenize`). MCP-free: the
server maps these functions onto `docs://` resources.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources

from pydantic import BaseModel, Field

from ack_compute.tools.doc_tokenize import query_weights, tokenize, tokenize_spans

__all__ = [
    "DocHit",
    "DocIndex",
    "DocSection",
    "DocumentInfo",
    "UnknownDocument",
    "UnknownSection",
    "document_names",
    "get_index",
    "list_documents",
    "read_document",
    "read_section",
    "search",
    "sections",
]

PACKAGE = "ack_compute.references"
URI_PREFIX = "docs://references/"
MAX_LIMIT = 20
MAX_QUERY_CHARS = 1000
SNIPPET_CHARS = 240

# BM25 parameters: the usual defaults; sections are short and fairly uniform, so nothing exotic is needed.
K1 = 1.2
B = 0.75
# A term in a section heading says more about the section than the same term in its body; the document
# title and the parent H2 say something about every section below them.
HEADING_WEIGHT = 3.0
PARENT_HEADING_WEIGHT = 1.0
TITLE_WEIGHT = 1.0

_HEADING_RE = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE_RE = re.compile(r"^[ \t]*(```|~~~)")
_LINK_RE = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_TABLE_RULE_RE = re.compile(r"^[ \t]*\|?[ \t:|-]+\|[ \t:|-]*$")


# ---------------------------------------------------------------------------------------------- models


class DocSection(BaseModel):
    """One H2/H3 section (or a document's introduction) and the URI that addresses it."""

    document: str = Field(description="document name (file stem), e.g. 'pricing'")
    title: str = Field(description="the document's H1 title")
    heading: str = Field(description="the section heading, plain text")
    anchor: str = Field(description="GitHub-style slug of the heading, unique within the document")
    uri: str = Field(description="docs://references/{document}/{anchor}")


class DocHit(DocSection):
    """A ranked search result: the section plus a snippet around the matching text."""

    snippet: str = Field(description="about 240 characters of the section around the best match")
    score: float = Field(description="BM25 score; only comparable within one query")


class DocumentInfo(BaseModel):
    """A reference document and the anchors of its sections, in document order."""

    name: str
    title: str
    uri: str
    sections: list[str] = Field(description="section anchors, usable with read_section")


class UnknownDocument(KeyError):
    """Raised for a document name that is not bundled; the message lists the valid names."""

    def __init__(self, name: str, valid: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.valid = valid

    def __str__(self) -> str:
        return f"unknown document {self.name!r}; valid names: {', '.join(self.valid)}"


class UnknownSection(KeyError):
    """Raised for an anchor that does not exist in the document; the message lists the valid anchors."""

    def __init__(self, document: str, anchor: str, valid: list[str]) -> None:
        super().__init__(anchor)
        self.document = document
        self.anchor = anchor
        self.valid = valid

    def __str__(self) -> str:
        anchors = ", ".join(self.valid)
        return f"unknown section {self.anchor!r} in document {self.document!r}; valid anchors: {anchors}"


# -------------------------------------------------------------------------------------------- parsing


def slugify(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens (not de-duplicated)."""
    text = _LINK_RE.sub(r"\1", heading.strip()).lower()
    kept = [ch for ch in text if ch in "-_ " or unicodedata.category(ch)[0] in "LNM"]
    return "".join(kept).replace(" ", "-")


def _plain_heading(heading: str) -> str:
    """Heading text without Markdown decoration, for display and for the URI-less `heading` field."""
    text = _LINK_RE.sub(r"\1", heading)
    return text.replace("`", "").replace("**", "").strip()


@dataclass
class _Section:
    """A parsed section: where it sits in the file and the text the index sees."""

    document: str
    title: str
    heading: str
    anchor: str
    level: int
    parent_heading: str
    start: int  # first line (the heading line; 0 for the introduction)
    body_end: int  # end of the section's own text (next heading of any indexed level)
    end: int = 0  # end including subsections (next heading of the same or a higher level)
    body: str = ""

    def model(self) -> DocSection:
        return DocSection(
            document=self.document,
            title=self.title,
            heading=self.heading,
            anchor=self.anchor,
            uri=f"{URI_PREFIX}{self.document}/{self.anchor}",
        )


@dataclass
class _Document:
    name: str
    title: str
    text: str
    lines: list[str]
    sections: list[_Section] = field(default_factory=list)


def _parse_document(name: str, text: str) -> _Document:
    """Split Markdown into an introduction plus H2/H3 sections, ignoring `#` lines inside code fences."""
    lines = text.splitlines()
    headings: list[tuple[int, int, str]] = []  # (line, level, raw heading)
    in_fence = False
    for i, line in enumerate(lines):
        if _FENCE_RE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        m = _HEADING_RE.match(line)
        if m and len(m.group(1)) <= 3:
            headings.append((i, len(m.group(1)), m.group(2)))

    h1 = next((h for h in headings if h[1] == 1), None)
    title = _plain_heading(h1[2]) if h1 else name
    doc = _Document(name=name, title=title, text=text, lines=lines)
    seen: Counter[str] = Counter()

    def unique(slug: str) -> str:
        anchor = slug if seen[slug] == 0 else f"{slug}-{seen[slug]}"
        seen[slug] += 1
        return anchor

    # The introduction (H1 and the text before the first H2) is addressed by the H1's own anchor.
    subs = [h for h in headings if h[1] in (2, 3)]
    first_sub = subs[0][0] if subs else len(lines)
    doc.sections.append(
        _Section(
            document=name,
            title=title,
            heading=title,
            anchor=unique(slugify(h1[2]) if h1 else name),
            level=1,
            parent_heading="",
            start=0,
            body_end=first_sub,
            end=first_sub,
        )
    )
    parent = ""
    for idx, (line_no, level, raw) in enumerate(subs):
        plain = _plain_heading(raw)
        if level == 2:
            parent = ""
        body_end = subs[idx + 1][0] if idx + 1 < len(subs) else len(lines)
        end = next((h[0] for h in subs[idx + 1 :] if h[1] <= level), len(lines))
        doc.sections.append(
            _Section(
                document=name,
                title=title,
                heading=plain,
                anchor=unique(slugify(raw)),
                level=level,
                parent_heading=parent,
                start=line_no,
                body_end=body_end,
                end=end,
            )
        )
        if level == 2:
            parent = plain

    h1_line = h1[0] if h1 else -1
    for section in doc.sections:
        first = 0 if section.level == 1 else section.start + 1
        body_lines = [ln for n, ln in enumerate(lines[first : section.body_end], first) if n != h1_line]
        section.body = "\n".join(body_lines).strip()
    return doc


def _clean_for_snippet(markdown: str) -> str:
    """Section body as one line of readable text: no fences, table rules, link targets or emphasis."""
    kept: list[str] = []
    for line in markdown.splitlines():
        if _FENCE_RE.match(line) or _TABLE_RULE_RE.match(line):
            continue
        stripped = line.strip()
        if stripped.startswith("|"):  # a table row reads best as "cell | cell | cell;"
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            line = " | ".join(c for c in cells if c) + ";"
        kept.append(line)
    text = _LINK_RE.sub(r"\1", "\n".join(kept))
    text = text.replace("**", "").replace("`", "")
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s+", " ", text).strip()


# ---------------------------------------------------------------------------------------------- index


class DocIndex:
    """An immutable BM25 index over the sections of a set of Markdown documents."""

    def __init__(self, documents: dict[str, str]) -> None:
        self._docs: dict[str, _Document] = {
            name: _parse_document(name, text) for name, text in sorted(documents.items())
        }
        self._sections: list[_Section] = [s for d in self._docs.values() for s in d.sections]
        self._snippet_text: list[str] = []
        # Where each term occurs in the snippet text, so a query never re-tokenises a section.
        self._snippet_spans: list[dict[str, list[tuple[int, int]]]] = []
        self._lengths: list[float] = []
        postings: dict[str, list[tuple[int, float]]] = {}
        for i, section in enumerate(self._sections):
            tf: Counter[str] = Counter()
            for term in tokenize(section.body):
                tf[term] += 1.0
            for term in tokenize(section.heading):
                tf[term] += HEADING_WEIGHT
            if section.level > 1:
                for term in tokenize(section.title):
                    tf[term] += TITLE_WEIGHT
            for term in tokenize(section.parent_heading):
                tf[term] += PARENT_HEADING_WEIGHT
            for term, weight in tf.items():
                postings.setdefault(term, []).append((i, weight))
            self._lengths.append(sum(tf.values()))
            snippet_text = _clean_for_snippet(section.body)
            spans: dict[str, list[tuple[int, int]]] = {}
            for term, start, end in tokenize_spans(snippet_text):
                spans.setdefault(term, []).append((start, end))
            self._snippet_text.append(snippet_text)
            self._snippet_spans.append(spans)
        n = len(self._sections)
        self._avg_length = (sum(self._lengths) / n) if n else 1.0
        self._postings = postings
        self._idf = {
            term: math.log(1.0 + (n - len(plist) + 0.5) / (len(plist) + 0.5)) for term, plist in postings.items()
        }

    @classmethod
    def from_package(cls, package: str = PACKAGE) -> DocIndex:
        """Read every bundled `*.md` through importlib.resources (works from a wheel or a checkout)."""
        root = resources.files(package)
        texts = {
            entry.name[: -len(".md")]: entry.read_text(encoding="utf-8")
            for entry in root.iterdir()
            if entry.is_file() and entry.name.endswith(".md")
        }
        return cls(texts)

    # -- documents

    def document_names(self) -> list[str]:
        return list(self._docs)

    def _document(self, name: str) -> _Document:
        key = name.strip()
        key = key.removeprefix(URI_PREFIX).removesuffix(".md")
        doc = self._docs.get(key)
        if doc is None:
            raise UnknownDocument(name, self.document_names())
        return doc

    def list_documents(self) -> list[DocumentInfo]:
        return [
            DocumentInfo(
                name=d.name, title=d.title, uri=f"{URI_PREFIX}{d.name}", sections=[s.anchor for s in d.sections]
            )
            for d in self._docs.values()
        ]

    def sections(self, name: str) -> list[DocSection]:
        return [s.model() for s in self._document(name).sections]

    def read_document(self, name: str) -> str:
        return self._document(name).text

    def read_section(self, name: str, anchor: str) -> str:
        doc = self._document(name)
        wanted = anchor.strip().lstrip("#")
        for section in doc.sections:
            if section.anchor == wanted:
                return "\n".join(doc.lines[section.start : section.end]).strip() + "\n"
        raise UnknownSection(doc.name, anchor, [s.anchor for s in doc.sections])

    # -- search

    def search(self, query: str, limit: int = 5) -> list[DocHit]:
        query = _validate(query, limit)
        weights = query_weights(query)
        scores: dict[int, float] = {}
        for term, qw in weights.items():
            plist = self._postings.get(term)
            if not plist:
                continue
            idf = self._idf[term] * qw
            for i, tf in plist:
                norm = K1 * (1.0 - B + B * self._lengths[i] / self._avg_length)
                scores[i] = scores.get(i, 0.0) + idf * tf * (K1 + 1.0) / (tf + norm)
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
        hits: list[DocHit] = []
        for i, score in ranked:
            section = self._sections[i]
            hits.append(
                DocHit(
                    **section.model().model_dump(),
                    snippet=self._snippet(i, weights),
                    score=round(score, 4),
                )
            )
        return hits

    def _snippet(self, i: int, weights: dict[str, float]) -> str:
        """About SNIPPET_CHARS of the section, placed where the most (and rarest) query terms meet."""
        text = self._snippet_text[i] or self._sections[i].heading
        if len(text) <= SNIPPET_CHARS:
            return text
        by_term = self._snippet_spans[i]
        value = {t: self._idf.get(t, 0.0) * w for t, w in weights.items() if t in by_term}
        spans = sorted((start, end, t) for t in value for start, end in by_term[t])[:200]
        if not spans:
            return _trim(text, 0)
        best_start, best_value = 0, -1.0
        lead = 40
        for start, _end, _term in spans:
            window_start = max(0, start - lead)
            window_end = window_start + SNIPPET_CHARS
            terms = {t for s, e, t in spans if s >= window_start and e <= window_end}
            total = sum(value[t] for t in terms)
            if total > best_value + 1e-9:
                best_start, best_value = window_start, total
        return _trim(text, best_start)


def _trim(text: str, start: int) -> str:
    """Cut a SNIPPET_CHARS window at word boundaries and mark the cuts with an ellipsis."""
    if start > 0:
        space = text.rfind(" ", 0, start)
        start = space + 1 if space >= 0 and start - space < 30 else start
    end = min(len(text), start + SNIPPET_CHARS)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + SNIPPET_CHARS // 2 else end
    piece = text[start:end].strip()
    return ("…" if start > 0 else "") + piece + ("…" if end < len(text) else "")


def _validate(query: str, limit: int) -> str:
    """Reject input the caller can fix, with a message that says how."""
    if not isinstance(query, str) or not query.strip():
        raise ValueError("query must be a non-empty search string, e.g. 'ACS GPU labels' or '虚拟节点 GPU'")
    if len(query) > MAX_QUERY_CHARS:
        raise ValueError(f"query is {len(query)} characters; keep it under {MAX_QUERY_CHARS}")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    return query.strip()


# ------------------------------------------------------------------------------ module-level API

_index: DocIndex | None = None
_index_lock = threading.Lock()


def document_titles() -> dict[str, str]:
    """Name -> H1 title of each bundled document, without building the index (cheap at server start)."""
    titles: dict[str, str] = {}
    for entry in sorted(resources.files(PACKAGE).iterdir(), key=lambda e: e.name):
        if entry.is_file() and entry.name.endswith(".md"):
            first = next((ln for ln in entry.read_text(encoding="utf-8").splitlines() if ln.startswith("# ")), "")
            titles[entry.name[: -len(".md")]] = first[2:].strip() or entry.name
    return titles


def get_index() -> DocIndex:
    """The index over the bundled references, built on first use and then shared (it never changes)."""
    global _index
    if _index is None:
        with _index_lock:
            if _index is None:
                _index = DocIndex.from_package()
    return _index


def search(query: str, limit: int = 5) -> list[DocHit]:
    """Best-matching sections for an English and/or Chinese query; ValueError on blank query or bad limit."""
    return get_index().search(query, limit)


def list_documents() -> list[DocumentInfo]:
    """Every bundled document with its title, URI and section anchors."""
    return get_index().list_documents()


def read_document(name: str) -> str:
    """The whole Markdown text of a document; UnknownDocument (a KeyError) lists the valid names."""
    return get_index().read_document(name)


def read_section(name: str, anchor: str) -> str:
    """One section (heading line through its subsections) of a document, addressed by its anchor."""
    return get_index().read_section(name, anchor)


def sections(name: str) -> list[DocSection]:
    """The sections of one document, in order, as addressable models."""
    return get_index().sections(name)


def document_names() -> list[str]:
    """Names (file stems) of the bundled documents, sorted."""
    return get_index().document_names()

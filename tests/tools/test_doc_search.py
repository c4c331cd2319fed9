"""Offline reference search: document loading, addressing, tokenisation, ranking quality and errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ack_compute.tools import doc_search
from ack_compute.tools.doc_search import (
    DocHit,
    DocIndex,
    UnknownDocument,
    UnknownSection,
    document_names,
    list_documents,
    read_document,
    read_section,
    search,
    slugify,
)
from ack_compute.tools.doc_tokenize import query_weights, stem, tokenize
from tests.helpers.docs import DOCUMENTS

QUERIES_FILE = Path(__file__).with_name("doc_queries.json")
CJK = re.compile(r"[\u4e00-\u9fff]")


def _labelled() -> list[dict[str, str]]:
    return json.loads(QUERIES_FILE.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------ documents


def test_every_expected_document_is_bundled() -> None:
    assert set(document_names()) >= DOCUMENTS
    assert document_names() == sorted(document_names())


@pytest.mark.parametrize("info", list_documents(), ids=lambda i: i.name)
def test_document_has_title_and_sections(info: doc_search.DocumentInfo) -> None:
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", info.name), "document names are kebab-case stems"
    assert info.title and info.title != info.name
    assert read_document(info.name).startswith(f"# {info.title}")
    assert info.uri == f"docs://references/{info.name}"
    assert len(info.sections) >= 3
    assert len(set(info.sections)) == len(info.sections), "anchors must be unique within a document"


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_sections_round_trip_through_read_section(name: str) -> None:
    text = read_document(name)
    sections = doc_search.sections(name)
    top_level = []
    for section in sections:
        assert section.uri == f"docs://references/{name}/{section.anchor}"
        body = read_section(name, section.anchor)
        assert body.strip() in text
        if section.anchor != sections[0].anchor:
            heading_line = body.splitlines()[0]
            assert re.match(r"#{2,3} ", heading_line)
            assert section.anchor.startswith(slugify(heading_line.lstrip("#")))
        if body.startswith("## ") or section.anchor == sections[0].anchor:
            top_level.append(body.strip())
    # The introduction plus the H2 sections (which include their H3 subsections) rebuild the document.
    squash = lambda s: re.sub(r"\s+", "", s)  # noqa: E731
    assert squash("".join(top_level)) == squash(text)


def test_read_section_accepts_hash_and_md_suffix() -> None:
    assert read_section("pricing.md", "#acs-pod-rates") == read_section("pricing", "acs-pod-rates")
    assert read_document("docs://references/pricing") == read_document("pricing")


def test_unknown_document_error_lists_valid_names() -> None:
    with pytest.raises(UnknownDocument) as info:
        read_document("no-such-doc")
    assert isinstance(info.value, KeyError)
    message = str(info.value)
    assert "no-such-doc" in message
    for name in DOCUMENTS:
        assert name in message


def test_unknown_section_error_lists_anchors() -> None:
    with pytest.raises(UnknownSection) as info:
        read_section("pricing", "no-such-anchor")
    assert isinstance(info.value, KeyError)
    assert "acs-pod-rates" in str(info.value)
    with pytest.raises(UnknownDocument):
        read_section("nope", "acs-pod-rates")


def test_links_between_references_resolve() -> None:
    """A broken cross-reference would send an agent to a missing section."""
    link = re.compile(r"\]\(([a-z0-9-]+)\.md(?:#([^)]+))?\)")
    for name in document_names():
        for target, anchor in link.findall(read_document(name)):
            assert target in document_names(), f"{name}: link to unknown document {target}"
            if anchor:
                anchors = [s.anchor for s in doc_search.sections(target)]
                assert anchor in anchors, f"{name}: link to unknown anchor {target}#{anchor}"


# -------------------------------------------------------------------------------------------- parsing


def test_github_style_slugs() -> None:
    assert slugify("Reusing any `acf-` cluster (opt-in only)") == "reusing-any-acf--cluster-opt-in-only"
    assert slugify("Cluster in delete_failed") == "cluster-in-delete_failed"
    assert slugify("Throttling.User") == "throttlinguser"
    assert slugify("Pods & GPUs: [ACS](acs.md)!") == "pods--gpus-acs"
    assert slugify("虚拟节点 GPU") == "虚拟节点-gpu"


def test_headings_in_code_fences_and_duplicates() -> None:
    index = DocIndex(
        {"demo": "# Demo\n\nintro\n\n## Setup\n```yaml\n# not a heading\n## nor this\n```\n## Setup\nmore\n"}
    )
    info = index.list_documents()[0]
    assert info.title == "Demo"
    assert info.sections == ["demo", "setup", "setup-1"]
    assert "# not a heading" in index.read_section("demo", "setup")
    assert index.read_section("demo", "setup-1").strip() == "## Setup\nmore"


def test_h2_section_includes_its_h3_subsections() -> None:
    body = read_section("troubleshooting", "quote-refusals")
    assert "### Quote expired" in body and "### Price drift" in body
    assert "## Pod and job failures" not in body


# ----------------------------------------------------------------------------------------- tokeniser


def test_identifiers_are_indexed_whole_and_in_parts() -> None:
    terms = tokenize("use gpu-hpn on ecs.g7.xlarge; names start with acf- here")
    for term in ("gpu-hpn", "gpu", "hpn", "ecs.g7.xlarge", "g7", stem("xlarge"), "acf-", "acf"):
        assert term in terms
    terms = tokenize("alibabacloud.com/compute-class and ACSPodResourcesMutation=true")
    assert {"alibabacloud.com/compute-class", "compute-class", "alibabacloud.com", stem("compute")} <= set(terms)
    camel_parts = {stem(w) for w in ("acs", "pod", "resources", "mutation")}
    assert {stem("acspodresourcesmutation"), *camel_parts} <= set(terms)


def test_light_stemming_joins_word_forms() -> None:
    assert stem("prices") == stem("pricing") == stem("priced") == stem("price")
    assert stem("nodes") == stem("node")
    assert stem("running") == stem("run")
    assert stem("refused") == stem("refusal")


def test_chinese_is_split_into_characters_and_bigrams() -> None:
    terms = tokenize("虚拟节点的算力")
    assert {"虚拟", "拟节", "节点", "虚", "节", "算力"} <= set(terms)
    assert "的" not in terms  # function characters are dropped as unigrams
    weights = query_weights("虚拟节点 GPU")
    assert weights["gpu"] == 1.0
    assert weights["节点"] < 1.0 and weights["节"] < weights["节点"]


@pytest.mark.parametrize(
    ("query", "document"),
    [
        ("虚拟节点", "acs-compute"),
        ("算力类型", "acs-compute"),
        ("集群管理费", "pricing"),
        ("按量付费", None),
        ("抢占式实例", "ack-serverless"),
        ("容量预留", "acs-compute"),
        ("登录密码规则", "create-cluster-api"),
    ],
)
def test_chinese_terms_are_found(query: str, document: str | None) -> None:
    hits = search(query, 3)
    assert hits, f"no hit for {query}"
    if document:
        assert any(h.document == document for h in hits)
    assert query in read_section(hits[0].document, hits[0].anchor)


def test_mixed_query_finds_acs_gpu_on_virtual_nodes() -> None:
    anchors = [(h.document, h.anchor) for h in search("虚拟节点 GPU", 3)]
    assert ("acs-compute", "gpu-workloads-on-acs") in anchors


# -------------------------------------------------------------------------------------------- search


def test_recall_at_3_over_labelled_queries() -> None:
    labelled = _labelled()
    found = 0
    misses = []
    for item in labelled:
        top = [(h.document, h.anchor) for h in search(item["query"], 3)]
        if (item["document"], item["anchor"]) in top:
            found += 1
        else:
            misses.append((item["query"], item["anchor"], top))
    recall = found / len(labelled)
    print(f"recall@3 = {recall:.3f} over {len(labelled)} labelled queries; misses: {misses}")
    assert recall >= 0.9


def test_labelled_set_shape_and_targets_exist() -> None:
    labelled = _labelled()
    chinese = [q for q in labelled if CJK.search(q["query"])]
    english = [q for q in labelled if not CJK.search(q["query"])]
    assert len(labelled) >= 36
    assert len(chinese) >= 12
    assert len(english) >= len(labelled) // 2
    assert any(re.search(r"[A-Za-z]", q["query"]) for q in chinese), "some queries mix English and Chinese"
    for item in labelled:
        anchors = [s.anchor for s in doc_search.sections(item["document"])]
        assert item["anchor"] in anchors, item
    assert {q["document"] for q in labelled} == DOCUMENTS


def test_hits_are_well_formed_and_ranked() -> None:
    hits = search("ACS GPU labels", 5)
    assert 1 <= len(hits) <= 5
    assert all(isinstance(h, DocHit) for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for h in hits:
        assert h.uri == f"docs://references/{h.document}/{h.anchor}"
        assert h.title and h.heading and h.snippet
    assert set(DocHit.model_fields) == {"document", "title", "heading", "anchor", "uri", "snippet", "score"}


@pytest.mark.parametrize(
    ("query", "expect"),
    [
        ("NAT gateway not included in the estimate", "nat gateway"),
        ("k8s.aliyun.com/eci-spot-price-limit", "eci-spot-price-limit"),
        ("ACSPodResourcesMutation", "acspodresourcesmutation"),
        ("集群管理费", "集群管理费"),
        ("delete_failed", "delet"),
    ],
)
def test_snippet_contains_a_query_term(query: str, expect: str) -> None:
    hit = search(query, 1)[0]
    assert expect in hit.snippet.lower()
    assert len(hit.snippet) <= doc_search.SNIPPET_CHARS + 2
    assert "\n" not in hit.snippet and "  " not in hit.snippet


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_blank_query_is_rejected(query: str) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        search(query)


@pytest.mark.parametrize("limit", [0, -1, 21, True])
def test_limit_bounds(limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        search("pricing", limit)


def test_limit_is_respected() -> None:
    assert len(search("cluster", 1)) == 1
    assert len(search("cluster", 20)) == 20


def test_query_without_indexed_terms_returns_nothing() -> None:
    assert search("zzqxv-unknown-term") == []
    assert search("???") == []


def test_index_is_built_once() -> None:
    assert doc_search.get_index() is doc_search.get_index()


def test_module_is_mcp_free() -> None:
    source = Path(doc_search.__file__).read_text(encoding="utf-8")
    assert not re.search(r"^\s*(from|import)\s+mcp\b", source, re.MULTILINE)

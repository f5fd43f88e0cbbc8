"""`GET /v1/invoices?revision=`: a commit SHA or a prefix of it (at least 7 hex digits, as
reports print them) matches the invoices whose revision starts with it; other text is a 422."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_fakes import fake_bundle, order
from api_service import Service

ISSUE = "/v1/invoices"
A = "3f9c2e7a1b4d" + "0" * 28          # two commits sharing their first 7 digits
B = "3f9c2e7" + "f" * 33
DIRTY_A = A + "+dirty"
DIR = "dir:0123456789abcdef"
# revision -> how many invoices are issued under it (orders numbered in this order)
ISSUED = {A: 3, B: 1, DIRTY_A: 1, DIR: 1}


@pytest.fixture
def issued(database_url: str) -> Iterator[Service]:
    s = Service(database_url, allow_dirty=True)
    n = 0
    for revision, count in ISSUED.items():
        s.svc.policy.try_activate(lambda r=revision: fake_bundle(r), revision, "test", "switch")
        for _ in range(count):
            n += 1
            r = s.client.post(ISSUE, json={"order": order(n)}, headers=s.auth("billing"))
            assert r.status_code == 201 and r.json()["revision"] == revision, r.text
    yield s
    s.close()


MATCHES = [
    # (the filter, the revisions of the invoices it lists)
    pytest.param(A[:12], [A, A, A, DIRTY_A], id="12-digit-prefix"),
    pytest.param(A[:12].upper(), [A, A, A, DIRTY_A], id="upper-case"),
    pytest.param(A, [A, A, A, DIRTY_A], id="full-sha"),
    pytest.param(A[:7], [A, A, A, B, DIRTY_A], id="7-digit-prefix-shared"),
    pytest.param(B[:8], [B], id="8-digit-prefix"),
    pytest.param(B, [B], id="full-sha-b"),
    pytest.param(DIRTY_A, [DIRTY_A], id="dirty-exactly"),
    pytest.param(DIR, [DIR], id="directory-exactly"),
    pytest.param("abcdef0", [], id="no-such-prefix"),
]


@pytest.mark.parametrize(("revision", "want"), MATCHES)
def test_revision_prefix_filter(revision: str, want: list[str], issued: Service) -> None:
    r = issued.client.get(ISSUE, params={"revision": revision}, headers=issued.auth("billing"))
    assert r.status_code == 200, r.text
    assert [i["revision"] for i in r.json()["items"]] == want


@pytest.mark.parametrize("revision", [
    pytest.param("3f9c2e", id="6-digits"),
    pytest.param("main", id="branch-name"),
    pytest.param("3f9c2e7g", id="not-hex"),
    pytest.param("3f9c2e7 ", id="trailing-space"),
    pytest.param(A + "0", id="41-digits"),
    pytest.param("3f9c2e7%", id="like-wildcard"),
    pytest.param("dir:", id="directory-without-digest"),
    pytest.param("", id="empty"),
])
def test_a_revision_that_is_no_prefix_is_a_422(revision: str, sqlite_service: Service) -> None:
    r = sqlite_service.client.get(ISSUE, params={"revision": revision},
                                  headers=sqlite_service.auth("billing"))
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_request"
    assert [d["loc"] for d in r.json()["details"]] == [["query", "revision"]]


def test_prefix_filter_pages_and_combines(issued: Service) -> None:
    h = issued.auth("billing")
    page1 = issued.client.get(ISSUE, params={"revision": A[:12], "limit": 2}, headers=h).json()
    assert [i["order_id"] for i in page1["items"]] == ["ORD-1", "ORD-2"]
    page2 = issued.client.get(ISSUE, params={"revision": A[:12], "limit": 2,
                                             "cursor": page1["next_cursor"]}, headers=h).json()
    assert [i["order_id"] for i in page2["items"]] == ["ORD-3", "ORD-5"]
    assert page2["next_cursor"] is None
    both = issued.client.get(ISSUE, params={"revision": A[:7], "customer": "C-1",
                                            "status": "issued"}, headers=h).json()
    assert len(both["items"]) == 5


def test_the_openapi_document_describes_the_revision_filter(sqlite_service: Service) -> None:
    doc = sqlite_service.client.get("/openapi.json").json()
    [param] = [p for p in doc["paths"]["/v1/invoices"]["get"]["parameters"]
               if p["name"] == "revision"]
    assert "at least 7 hex digits" in param["description"]

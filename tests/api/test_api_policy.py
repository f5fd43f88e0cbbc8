"""Following a policy branch: only revisions that load and pass their tests activate."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_fakes import order
from api_service import Service

SECRET = "test-webhook-secret"


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                         env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                              "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
                              "PATH": "/usr/bin:/bin"})
    return out.stdout.strip()


def _commit(repo: Path, content: str) -> str:
    (repo / "policies").mkdir(exist_ok=True)
    (repo / "policies" / "p.yaml").write_text(content)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", content[:20])
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture
def followed(tmp_path: Path) -> Iterator[tuple[Service, Path, str]]:
    repo = tmp_path / "policy-repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    good = _commit(repo, "kind: ok\n")
    s = Service(f"sqlite:///{tmp_path / 'b.db'}", repo=repo, branch="main", subdir="policies",
                poll_interval=0, webhook_secret=SECRET)
    yield s, repo, good
    s.close()


def _push(s: Service, body: bytes = b'{"ref":"refs/heads/main"}') -> dict:
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    r = s.client.post("/v1/policy/webhook", content=body,
                      headers={"X-Billplane-Signature": sig})
    assert r.status_code == 200, r.text
    return r.json()


def test_broken_and_failing_heads_never_activate(followed: tuple[Service, Path, str]) -> None:
    s, repo, good = followed
    assert s.client.get("/readyz").json()["active_revision"] == good
    broken = _commit(repo, "BROKEN: [\n")
    outcome = _push(s)
    assert outcome["head"] == broken and outcome["activated"] is False
    ready = s.client.get("/readyz").json()
    assert ready["active_revision"] == good
    assert ready["refused"]["revision"] == broken
    assert "does not load" in ready["refused"]["reason"]
    failing = _commit(repo, "FAILING-TEST\n")
    assert _push(s)["activated"] is False
    assert s.client.get("/readyz").json()["refused"]["revision"] == failing
    assert "billplane_policy_activation_refused_total 2.0" in s.client.get("/metrics").text
    r = s.client.post("/v1/invoices/evaluate", json={"order": order()}, headers=s.auth("billing"))
    assert r.json()["revision"] == good
    fixed = _commit(repo, "kind: ok again\n")
    assert _push(s)["activated"] is True
    ready = s.client.get("/readyz").json()
    # the branch moved past the refused heads: nothing is refused any more
    assert (ready["active_revision"], ready["refused"]) == (fixed, None)
    audit = s.client.get("/v1/audit", headers=s.auth("auditor")).json()["items"]
    trail = [(e["action"], e["subject"]) for e in audit if e["action"].startswith("activation")]
    assert trail == [("activation", good), ("activation_refused", broken),
                     ("activation_refused", failing), ("activation", fixed)]
    history = s.client.get("/v1/policy/history", headers=s.auth("auditor")).json()["items"]
    assert [h["revision"] for h in history] == [fixed, good]


def test_admin_activation_of_a_broken_revision_is_refused(
        followed: tuple[Service, Path, str]) -> None:
    s, repo, good = followed
    broken = _commit(repo, "BROKEN\n")
    r = s.client.post("/v1/policy/activate", json={"revision": broken},
                      headers=s.auth("admin"))
    assert r.status_code == 409 and r.json()["code"] == "activation_refused"
    assert r.json()["details"] == [{"loc": ["policy", "p.yaml"], "type": "yaml_syntax",
                                    "message": "broken policy", "line": 1, "column": 1}]
    r = s.client.post("/v1/policy/activate", json={"revision": "no-such-ref"},
                      headers=s.auth("admin"))
    assert r.status_code == 404 and r.json()["code"] == "unknown_revision"
    r = s.client.post("/v1/policy/activate", json={"revision": good, "reason": "rollback"},
                      headers=s.auth("admin"))
    assert r.status_code == 200 and r.json()["revision"] == good


def test_webhook_signature_is_checked(followed: tuple[Service, Path, str]) -> None:
    s, _, _ = followed
    r = s.client.post("/v1/policy/webhook", content=b"{}",
                      headers={"X-Billplane-Signature": "sha256=" + "0" * 64})
    assert r.status_code == 401 and r.json()["code"] == "invalid_signature"
    assert s.client.post("/v1/policy/webhook", content=b"{}").status_code == 401
    # a header is bytes: a signature with non-ASCII ones is wrong like any other
    for given in ("sha256=\u00e9".encode(), b"sha256=\xff" + b"0" * 63, "é".encode()):
        for name in ("X-Billplane-Signature", "X-Hub-Signature-256"):
            r = s.client.post("/v1/policy/webhook", content=b"{}", headers={name: given})
            assert (r.status_code, r.json()["code"]) == (401, "invalid_signature"), r.text
            assert [d["loc"] for d in r.json()["details"]] == [["header", name.lower()]]
    r = s.client.post("/v1/policy/webhook", content=b"{}")
    assert r.json()["details"][0]["loc"] == ["header", "x-billplane-signature"]


def test_in_flight_requests_keep_their_revision(followed: tuple[Service, Path, str]) -> None:
    s, repo, good = followed
    held = s.svc.policy.current()  # what a request takes at its start
    newer = _commit(repo, "kind: newer\n")
    assert _push(s)["activated"] is True
    assert held.revision == good and held.bundle.revision == good
    assert s.svc.policy.current().revision == newer


def test_sandbox_ref_only_in_sandbox_mode(followed: tuple[Service, Path, str],
                                          tmp_path: Path) -> None:
    s, repo, good = followed
    r = s.client.post("/v1/invoices/evaluate", json={"order": order(), "ref": good},
                      headers=s.auth("billing"))
    assert r.status_code == 422 and r.json()["code"] == "ref_not_allowed"
    sandbox = Service(f"sqlite:///{tmp_path / 's.db'}", repo=repo, poll_interval=0,
                      sandbox=True)
    try:
        newer = _commit(repo, "kind: newer\n")
        r = sandbox.client.post("/v1/invoices/evaluate", json={"order": order(), "ref": "main"},
                                headers=sandbox.auth("billing"))
        assert r.status_code == 200 and r.json()["revision"] == newer
    finally:
        sandbox.close()


def _history(s: Service) -> list[dict]:
    r = s.client.get("/v1/policy/history", headers=s.auth("auditor"))
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_an_activation_by_one_process_is_served_by_every_process(
        followed: tuple[Service, Path, str], tmp_path: Path) -> None:
    a, repo, good = followed
    newer = _commit(repo, "kind: newer\n")
    assert _push(a)["activated"] is True
    # a second process of the same store: it serves the store's revision, adds no history
    b = Service(a.settings.database_url, repo=repo, poll_interval=0, policy_sync_seconds=0)
    try:
        assert b.svc.policy.current().revision == newer
        assert [h["revision"] for h in _history(b)] == [newer, good]
        r = a.client.post("/v1/policy/activate", json={"revision": good, "reason": "rollback"},
                          headers=a.auth("admin"))
        assert r.status_code == 200
        # b has not asked the store yet when a answers; its next request does
        r = b.client.post("/v1/invoices", json={"order": order()}, headers=b.auth("billing"))
        assert r.status_code == 201 and r.json()["revision"] == good
        assert r.json()["invoice"]["provenance"]["revision"] == good
        assert b.client.get("/readyz").json()["active_revision"] == good
        assert [(h["revision"], h["actor"], h["reason"]) for h in _history(b)] == [
            (good, "key:" + a.keys["admin"].split("_")[1], "rollback"),
            (newer, "webhook", "new head of main"), (good, "system", "new head of main")]
    finally:
        b.close()


def test_a_restart_while_the_head_is_broken_serves_the_last_good_revision(
        followed: tuple[Service, Path, str]) -> None:
    a, repo, good = followed
    url = a.settings.database_url
    a.close()
    again = Service(url, repo=repo, poll_interval=0)  # same head: nothing new to record
    again.close()
    broken = _commit(repo, "BROKEN: [\n")
    restarted = Service(url, repo=repo, poll_interval=0)
    try:
        ready = restarted.client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["active_revision"] == good
        assert ready.json()["refused"]["revision"] == broken
        assert [h["revision"] for h in _history(restarted)] == [good]
        # a further restart does not try (or audit) the refused head again
        Service(url, repo=repo, poll_interval=0).close()
        audit = restarted.client.get("/v1/audit", headers=restarted.auth("auditor")).json()
        trail = [(e["action"], e["subject"]) for e in audit["items"]
                 if e["action"].startswith("activation")]
        assert trail == [("activation", good), ("activation_refused", broken)]
    finally:
        restarted.close()


def test_history_shows_the_commit_author_date_and_approvals(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "policies").mkdir()
    (repo / "policies" / "p.yaml").write_text("kind: ok\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "UK VAT: 20 % from April\n\nWhy it changes.\n\n"
         "Approved-by: Ann Lee <ann@example.com>\nReviewed-by: Bo Ng <bo@example.com>\n")
    sha = _git(repo, "rev-parse", "HEAD")
    s = Service(f"sqlite:///{tmp_path / 'h.db'}", repo=repo, poll_interval=0)
    try:
        (item,) = _history(s)
        assert (item["revision"], item["actor"], item["dirty"]) == (sha, "system", False)
        assert item["commit"]["author"] == "t <t@example.com>"
        assert item["commit"]["subject"] == "UK VAT: 20 % from April"
        assert item["commit"]["committed_at"].endswith("Z")
        assert item["commit"]["approvals"] == [
            {"trailer": "Approved-by", "by": "Ann Lee <ann@example.com>"},
            {"trailer": "Reviewed-by", "by": "Bo Ng <bo@example.com>"}]
    finally:
        s.close()


def test_directory_mode_activates_only_what_the_directory_holds(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    first = _commit(repo, "kind: ok\n")
    s = Service(f"sqlite:///{tmp_path / 'd.db'}", policies=repo / "policies")
    h = s.auth("admin")
    try:
        assert s.client.get("/readyz").json()["active_revision"] == first
        r = s.client.post("/v1/policy/activate", json={"revision": "deadbeef-does-not-exist"},
                          headers=h)
        assert (r.status_code, r.json()["code"]) == (404, "unknown_revision")
        r = s.client.post("/v1/policy/activate", json={"revision": "HEAD"}, headers=h)
        assert r.status_code == 200 and r.json()["revision"] == first
        second = _commit(repo, "kind: ok, later\n")
        r = s.client.post("/v1/policy/activate", json={"revision": first}, headers=h)
        assert (r.status_code, r.json()["code"]) == (409, "revision_mismatch")
        r = s.client.post("/v1/policy/activate", json={"revision": second[:10]}, headers=h)
        assert r.status_code == 200 and r.json()["revision"] == second
        (repo / "policies" / "p.yaml").write_text("kind: edited, not committed\n")
        r = s.client.post("/v1/policy/activate", json={"revision": second}, headers=h)
        assert (r.status_code, r.json()["code"]) == (409, "activation_refused")
        assert r.json()["details"][0]["type"] == "dirty_tree"
        assert s.client.get("/v1/policy", headers=h).json()["revision"] == second
        assert [i["revision"] for i in _history(s)] == [second, first]
    finally:
        s.close()
    dirty = Service(f"sqlite:///{tmp_path / 'd.db'}", policies=repo / "policies",
                    allow_dirty=True)
    try:
        info = dirty.client.get("/v1/policy", headers=dirty.auth("admin")).json()
        assert (info["revision"], info["dirty"]) == (second + "+dirty", True)
        assert _history(dirty)[0]["dirty"] is True
    finally:
        dirty.close()
    strict = Service(f"sqlite:///{tmp_path / 'd.db'}", policies=repo / "policies")
    try:
        ready = strict.client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["active_revision"] is None
        assert "uncommitted changes" in ready.json()["refused"]["reason"]
        assert "uncommitted changes" in ready.json()["out_of_sync"]
    finally:
        strict.close()
    # the store serves a commit; the directory then holds one whose tests fail: nothing is
    # served, and readiness says what the store wants and what the directory holds
    (repo / "policies" / "p.yaml").write_text("kind: ok, later\n")
    fresh = Service(f"sqlite:///{tmp_path / 'e.db'}", policies=repo / "policies")
    fresh.close()
    third = _commit(repo, "kind: FAILING-TEST\n")
    failing = Service(f"sqlite:///{tmp_path / 'e.db'}", policies=repo / "policies")
    try:
        ready = failing.client.get("/readyz").json()
        assert ready["active_revision"] is None and ready["refused"]["revision"] == third
        assert ready["out_of_sync"].startswith(
            f"the store's active revision {second} is not what the policy directory holds"
            f" ({third}, digest ")
        assert f"check out {second}, or activate" in ready["out_of_sync"]
    finally:
        failing.close()


# names git's revision parser cannot follow here (a previous checkout, a date in the reflog,
# a tree, a commit's file), and full SHAs of no commit: each one names no revision
ODD_REFS = ["@{-1}", "HEAD@{1000 years ago}", "HEAD^{tree}", "HEAD:policies/p.yaml",
            "0" * 40, "f" * 40]


def test_odd_revision_names_are_unknown_revisions(followed: tuple[Service, Path, str],
                                                  tmp_path: Path) -> None:
    s, repo, good = followed
    sandbox = Service(f"sqlite:///{tmp_path / 's.db'}", repo=repo, poll_interval=0,
                      sandbox=True)
    directory = Service(f"sqlite:///{tmp_path / 'd.db'}", policies=repo / "policies")
    try:
        for ref in ODD_REFS:
            for r in (s.client.post("/v1/policy/activate", json={"revision": ref},
                                    headers=s.auth("admin")),
                      directory.client.post("/v1/policy/activate", json={"revision": ref},
                                            headers=directory.auth("admin")),
                      sandbox.client.post("/v1/invoices/evaluate",
                                          json={"order": order(), "ref": ref},
                                          headers=sandbox.auth("billing"))):
                assert (r.status_code, r.json()["code"]) == (404, "unknown_revision"), (
                    ref, r.text)
        assert s.client.get("/v1/policy", headers=s.auth("admin")).json()["revision"] == good
    finally:
        sandbox.close()
        directory.close()

"""Following a policy branch: only revisions that load and pass their tests activate."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_fakes import order
from conftest import Service

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
    assert ready["active_revision"] == fixed and ready["refused"]["revision"] == failing
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
    assert r.json()["details"][0]["code"] == "yaml_syntax"
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

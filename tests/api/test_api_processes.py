"""Several server processes on one store: `billplane serve --workers 3 --repo ...`.

The active revision is the store's: an activation taken by one worker is served by every
worker within the sync interval, and starting four processes records one activation.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from served import Served

ROOT = Path(__file__).resolve().parents[2]
ORDER = json.loads((ROOT / "examples" / "uk-consumer.json").read_text())

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def _policy_repo(tmp_path: Path) -> tuple[Path, str, str]:
    repo = tmp_path / "policy-repo"
    shutil.copytree(ROOT / "policies", repo / "policies")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "Example policies")
    first = _git(repo, "rev-parse", "HEAD")
    ownership = repo / "policies" / "ownership.yaml"
    ownership.write_text(ownership.read_text() + "# reviewed\n")
    _git(repo, "commit", "-q", "-am", "Ownership: reviewed")
    return repo, first, _git(repo, "rev-parse", "HEAD")


def test_an_activation_reaches_every_worker(pg_url: str, tmp_path: Path) -> None:
    repo, first, head = _policy_repo(tmp_path)
    served = Served(["--repo", str(repo), "--workers", "3", "--poll-interval", "0",
                     "--database-url", pg_url], tmp_path / "serve.log",
                    env={"BILLPLANE_POLICY_SYNC_SECONDS": "0.5"})
    try:
        h = served.admin
        assert served.request("GET", "/v1/policy", headers=h).json()["revision"] == head
        r = served.request("POST", "/v1/policy/activate",
                           json={"revision": first, "reason": "rollback"}, headers=h)
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 15
        while True:
            # a fresh connection each: the kernel hands them to the workers in turn
            seen = {served.request("GET", "/v1/policy", headers=h).json()["revision"]
                    for _ in range(12)}
            if seen == {first} or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert seen == {first}
        for _ in range(12):
            r = served.request("POST", "/v1/invoices/evaluate", json={"order": ORDER},
                               headers=h)
            assert r.status_code == 200 and r.json()["revision"] == first
        history = served.request("GET", "/v1/policy/history", headers=h).json()["items"]
        # the parent and three workers started on `head`: one row for it
        assert [(i["revision"], i["reason"]) for i in history] == [
            (first, "rollback"), (head, "new head of main")]
    finally:
        logged = served.stop()
    assert "Traceback" not in logged

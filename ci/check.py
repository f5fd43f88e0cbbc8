"""The policy pull-request check: load, test, replay, owners and thresholds, one report.

Exit codes: 0 passed (approvals may be required: they are listed, not failures); 1 a revision
does not load, a head PolicyTest fails, or (with `fail_on_approvals`) approvals are required.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ci.ownership import required_approvals
from engine.errors import BillplaneError
from sandbox.engine_port import DEFAULT_PORT, RevisionSpec, get_port
from sandbox.replay import ReplayConfig, replay
from sandbox.report import build, metrics


@dataclass
class CiOptions:
    """What to compare and how."""

    repo: str
    base: str
    head: str
    policies_dir: str = "policies"
    orders: str = ""
    jobs: int = 1
    prune: bool = True
    backend: str = "cel-expr"
    port: str = DEFAULT_PORT
    dask: str = ""
    fail_on_approvals: bool = False
    replay_options: dict[str, Any] = field(default_factory=dict)


def changed_paths(repo: str, base: str, head: str, policies_dir: str) -> list[str]:
    """Policy paths (relative to the policy folder) that differ between two revisions."""
    import git

    r = git.Repo(repo, search_parent_directories=True)
    prefix = policies_dir.strip("/") + "/" if policies_dir.strip("/") else ""
    out: set[str] = set()
    for d in r.commit(base).diff(r.commit(head)):
        for p in (d.a_path, d.b_path):
            if p and p.startswith(prefix):
                out.add(p[len(prefix):])
    return sorted(out)


def run_ci(opts: CiOptions) -> tuple[int, dict[str, Any]]:
    """Run the whole check; returns (exit code, report data)."""
    port = get_port(opts.port)
    specs = {side: RevisionSpec(opts.repo, ref, opts.policies_dir, opts.backend)
             for side, ref in (("base", opts.base), ("head", opts.head))}
    bundles: dict[str, Any] = {}
    check: dict[str, Any] = {}
    for side, spec in specs.items():
        try:
            bundles[side] = port.load(spec)
            check[side] = {"ok": True, "revision": bundles[side].revision}
        except BillplaneError as exc:
            check[side] = {"ok": False, "errors": [d.to_dict() for d in exc.diagnostics]}
    data: dict[str, Any] = {"schema": "billplane.ci/v1", "base": opts.base, "head": opts.head,
                            "check": check, "tests": None, "replay": None, "approvals": [],
                            "changed_paths": [], "failures": []}
    if not all(c["ok"] for c in check.values()):
        data["failures"].append("policies do not load: " + ", ".join(
            side for side, c in check.items() if not c["ok"]))
        return 1, data
    data["changed_paths"] = changed_paths(opts.repo, opts.base, opts.head, opts.policies_dir)
    from engine.testing import run_policy_tests

    tests = run_policy_tests(bundles["head"])
    data["tests"] = tests.to_dict()
    if not tests.ok:
        data["failures"].append(f"{tests.failed} policy test case(s) fail at head")
    found: dict[str, Decimal] | None = None
    if opts.orders:
        cfg = ReplayConfig(specs["base"], specs["head"], opts.orders, jobs=opts.jobs,
                           prune=opts.prune, port=opts.port, dask=opts.dask,
                           **opts.replay_options)
        report = build(replay(cfg))
        data["replay"] = report
        found = metrics(report)
        data["metrics"] = {k: f"{v:f}" for k, v in found.items()}
    # ownership is read from the base revision: a change cannot choose its own approvers
    data["approvals"] = required_approvals(bundles["base"], data["changed_paths"], found)
    code = 1 if data["failures"] else 0
    if opts.fail_on_approvals and data["approvals"]:
        code = 1
    return code, data

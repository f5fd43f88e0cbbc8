"""The policy pull-request check: load, test, replay, owners and thresholds, one report.

The base revision is the merge base of the given base and head (what the pull request is
actually based on), so that changes merged into the target branch since the branch was cut
are neither listed as changed nor replayed as if the pull request made them.

Exit codes: 0 passed (approvals may be required: they are listed, not failures); 1 a revision
does not load, a head PolicyTest fails, the replay cannot read its history, or (with
`fail_on_approvals`) approvals are required.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ci.ownership import required_approvals, thresholds
from engine.errors import BillplaneError
from sandbox import markdown as md
from sandbox.engine_port import DEFAULT_PORT, RevisionSpec, get_port
from sandbox.prune import impact
from sandbox.replay import ReplayConfig, replay
from sandbox.report import (
    PERCENT_METRICS,
    build,
    metric_names,
    metrics,
    name_revisions,
    unknown_metrics,
)


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
    merge_base: bool = True
    replay_options: dict[str, Any] = field(default_factory=dict)


def _repo(path: str) -> Any:
    import git

    return git.Repo(path, search_parent_directories=True)


def merge_base(repo: str, base: str, head: str) -> str | None:
    """The best common ancestor of two revisions (a sha), or None when there is none or a
    revision is unknown (loading it then reports the unknown revision)."""
    import git

    try:
        found = _repo(repo).merge_base(base, head)
    except (git.GitCommandError, git.BadName, ValueError, git.InvalidGitRepositoryError,
            git.NoSuchPathError):
        return None
    return str(found[0].hexsha) if found else None


def _sha(repo: str, ref: str) -> str | None:
    """The commit `ref` names in the repository (a sha), or None when it names none."""
    import git

    try:
        return str(_repo(repo).commit(ref).hexsha)
    except (git.GitCommandError, git.BadName, ValueError, git.InvalidGitRepositoryError,
            git.NoSuchPathError):
        return None


def _known(repo: str, ref: str) -> bool:
    """True when `ref` names a commit of the repository."""
    return _sha(repo, ref) is not None


def uncommitted(repo: str, ref: str, policies_dir: str) -> list[str]:
    """Policy files with changes not committed (staged, unstaged or untracked) when `ref` is
    the commit checked out: the check reads commits, so it does not see them."""
    import git

    from api.sources import is_policy_path

    try:
        r = _repo(repo)
        if r.bare or not r.head.is_valid() or _sha(repo, ref) != r.head.commit.hexsha:
            return []
        folder = policies_dir.strip("/") or "."
        status = r.git.status("--porcelain", "--untracked-files=all", "--", folder)
    except (git.GitCommandError, ValueError, git.InvalidGitRepositoryError,
            git.NoSuchPathError):
        return []
    paths = (line[3:].split(" -> ")[-1].strip('"') for line in status.splitlines())
    return sorted(p for p in paths if is_policy_path(p))


def changed_paths(repo: str, base: str, head: str, policies_dir: str) -> list[str]:
    """Policy paths (relative to the policy folder) that differ between two revisions."""
    r = _repo(repo)
    prefix = policies_dir.strip("/") + "/" if policies_dir.strip("/") else ""
    out: set[str] = set()
    for d in r.commit(base).diff(r.commit(head)):
        for p in (d.a_path, d.b_path):
            if p and p.startswith(prefix):
                out.add(p[len(prefix):])
    return sorted(out)


def _resolve_base(opts: CiOptions, data: dict[str, Any]) -> str:
    if not opts.merge_base:
        data["notes"].append(f"Compared with {md.code(opts.base)} itself (merge base not used).")
        return opts.base
    found = merge_base(opts.repo, opts.base, opts.head)
    if found is None:
        # an unknown revision is reported when it is loaded, not as a missing ancestor
        if _known(opts.repo, opts.base) and _known(opts.repo, opts.head):
            data["notes"].append(f"{md.code(opts.base)} and {md.code(opts.head)} have no common "
                                 f"ancestor: compared with {md.code(opts.base)} itself.")
        return opts.base
    data["notes"].append(f"Base: the merge base `{found[:12]}` of {md.code(opts.base)} and "
                         f"{md.code(opts.head)} (what the change is based on; later changes of "
                         f"{md.code(opts.base)} are not part of it).")
    return found


def run_ci(opts: CiOptions) -> tuple[int, dict[str, Any]]:
    """Run the whole check; returns (exit code, report data)."""
    data: dict[str, Any] = {"schema": "billplane.ci/v2", "base": opts.base, "head": opts.head,
                            "base_revision": "", "check": {}, "tests": None, "replay": None,
                            "revisions": {}, "approvals": [], "changed_paths": [],
                            "failures": [], "notes": [], "metrics": None}
    base_ref = _resolve_base(opts, data)
    data["base_revision"] = base_ref
    dirty = uncommitted(opts.repo, opts.head, opts.policies_dir)
    if dirty:
        data["notes"].append(
            f"The working tree has {len(dirty)} uncommitted change(s) in "
            f"{md.code(opts.policies_dir)} ({', '.join(md.code(d) for d in dirty[:5])}"
            f"{' and more' if len(dirty) > 5 else ''}): they are not part of this check, which "
            f"reads the commit {md.code(opts.head)} names; commit them to check them.")
    port = get_port(opts.port)
    specs = {side: RevisionSpec(opts.repo, ref, opts.policies_dir, opts.backend)
             for side, ref in (("base", base_ref), ("head", opts.head))}
    # each side by the ref given, its short SHA and its commit's subject (also when it does
    # not load); the base as the merge base of its ref when that ref has moved on since
    for side, spec in specs.items():
        sha = _sha(opts.repo, spec.ref)
        if sha is not None:
            data["revisions"][side] = {"revision": sha}
    name_revisions(data["revisions"], opts.repo, {
        side: ref for side, ref in (("base", opts.base), ("head", opts.head))
        if side in data["revisions"]}, merge_bases=("base",) if base_ref != opts.base else ())
    bundles: dict[str, Any] = {}
    check: dict[str, Any] = data["check"]
    for side, spec in specs.items():
        try:
            bundles[side] = port.load(spec)
            check[side] = {"ok": True, "revision": bundles[side].revision}
        except BillplaneError as exc:
            check[side] = {"ok": False, "errors": [d.to_dict() for d in exc.diagnostics]}
    if not all(c["ok"] for c in check.values()):
        data["failures"].append("policies do not load: " + ", ".join(
            side for side, c in check.items() if not c["ok"]))
        return 1, data
    data["changed_paths"] = changed_paths(opts.repo, base_ref, opts.head, opts.policies_dir)
    from engine.testing import locate_failures, run_policy_tests

    tests = run_policy_tests(bundles["head"])
    if not tests.ok:  # failures name the case's own line, as `billplane test` does
        files = _policy_files(specs["head"])
        if files:
            locate_failures(tests, bundles["head"], files)
    data["tests"] = tests.to_dict()
    if not tests.ok:
        data["failures"].append(f"{tests.failed} policy test case(s) fail at head")
    found, missing = _metrics(opts, specs, bundles, data)
    unknown = unknown_metrics(data["replay"]) if data["replay"] else {}
    if found is not None:
        # a metric this replay cannot give is unknown (null), never zero
        data["metrics"] = {**{k: f"{v:f}" for k, v in found.items()},
                           **dict.fromkeys(unknown)}
        data["metrics_unknown"] = unknown
    # ownership is read from the base revision: a change cannot choose its own approvers
    data["approvals"] = required_approvals(bundles["base"], data["changed_paths"], found,
                                           missing, unknown)
    code = 1 if data["failures"] else 0
    if opts.fail_on_approvals and data["approvals"]:
        code = 1
    return code, data


def _policy_files(spec: RevisionSpec) -> dict[str, bytes] | None:
    """The policy files of a revision (None when they cannot be read again)."""
    from api.sources import GitSource

    try:
        return GitSource(spec.repo, spec.ref, spec.subdir).files()
    except BillplaneError:
        return None


def _metrics(opts: CiOptions, specs: dict[str, RevisionSpec], bundles: dict[str, Any],
             data: dict[str, Any]) -> tuple[dict[str, Decimal] | None, str]:
    """Impact metrics from a replay, or (None, why they could not be worked out)."""
    if not opts.orders:
        if impact(bundles["base"], bundles["head"]).nothing:
            data["notes"].append("No order history given; no changed document can affect an "
                                 "invoice, so every impact metric is zero.")
            return dict.fromkeys(metric_names(), Decimal(0)), ""
        data["notes"].append("No order history given (`--orders` or `$BILLPLANE_ORDERS`): "
                             "replay skipped, impact thresholds could not be evaluated and "
                             "require their approvals.")
        return None, "no order history was replayed"
    # percentages of totals need every order's base totals, pruned ones included
    wanted = {str(t.get("metric")) for t in thresholds(bundles["base"])}
    options = dict(opts.replay_options)
    options.setdefault("base_totals", bool(wanted & set(PERCENT_METRICS)))
    cfg = ReplayConfig(specs["base"], specs["head"], opts.orders, jobs=opts.jobs,
                       prune=opts.prune, port=opts.port, dask=opts.dask, **options)
    try:
        report = build(replay(cfg))
    except BillplaneError as exc:
        first = exc.diagnostics[0]
        data["failures"].append(f"replay failed: {first}")
        return None, f"the replay failed ({first.code})"
    for side in ("base", "head"):  # named as the check names them
        report[side].update({k: v for k, v in data["revisions"].get(side, {}).items()
                             if k != "revision"})
    data["replay"] = report
    c = report["counts"]
    if not c["evaluated"] + c["skipped"] and not impact(bundles["base"], bundles["head"]).nothing:
        # an empty history (or one of bad records only) shows no impact: it is no evidence
        # of none, so thresholds are treated as without a history
        data["notes"].append(f"The order history has no order to replay ({c['read']} records "
                             f"read, {c['issues']} bad): impact thresholds could not be "
                             "evaluated and require their approvals.")
        return None, "the order history has no order to replay"
    return metrics(report), ""

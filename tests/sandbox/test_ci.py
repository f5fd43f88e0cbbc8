"""The PR check: `billplane ci` on a temporary repository, ownership, CODEOWNERS, templates."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from sandbox_repo import ENV, OWNERS, TAX, branch, commit, git, make_repo, write_orders

from api.cli.main import COMMANDS, build_parser, main
from ci.ownership import codeowners, matches, required_approvals
from sandbox import report_md

TEMPLATES = Path(__file__).parents[2] / "ci" / "templates"


def _doc(kind: str, name: str, spec: dict[str, Any]) -> Any:
    return SimpleNamespace(kind=kind, name=name, spec=spec)


def _bundle() -> Any:
    return SimpleNamespace(docs={"owners": _doc("Ownership", "owners", yaml.safe_load(
        OWNERS)["spec"])})


def test_globs() -> None:
    assert matches("tax/**", "tax/uk/vat.yaml")
    assert matches("tax/", "tax/vat.yaml")
    assert not matches("tax/*", "tax/uk/vat.yaml")
    assert matches("**/*.yaml", "a/b/c.yaml") and matches("**/*.yaml", "c.yaml")
    assert not matches("pricing/**", "tax/vat.yaml")


def test_required_approvals_from_owners_and_thresholds() -> None:
    metrics = {"total_change_percent": Decimal("1.5"), "tax_change_issued": Decimal("0")}
    got = required_approvals(_bundle(), ["tax/vat.yaml", "pricing/retail.yaml"], metrics)
    assert got == [
        {"team": "@acme/finance", "reasons": ["total_change_percent = 1.5 is above 1"]},
        {"team": "@acme/revops", "reasons": ["owns pricing/retail.yaml"]},
        {"team": "@acme/tax", "reasons": ["owns tax/vat.yaml"]},
    ]
    # exactly at the threshold is not above it
    metrics = {"total_change_percent": Decimal("1"), "tax_change_issued": Decimal("0.01")}
    teams = [a["team"] for a in required_approvals(_bundle(), [], metrics)]
    assert teams == ["@acme/tax"]


def test_codeowners_text() -> None:
    assert codeowners(_bundle()).splitlines()[2:] == [
        "/policies/tax/** @acme/tax", "/policies/pricing/** @acme/revops"]


def test_templates_parse_and_run_billplane_ci() -> None:
    gh = yaml.safe_load((TEMPLATES / "github-actions.yml").read_text())
    on = gh.get("on", gh.get(True))  # YAML 1.1 reads the key `on` as true
    assert "pull_request" in on
    steps = gh["jobs"]["policy-check"]["steps"]
    assert steps[0]["with"]["fetch-depth"] == 0
    run = "\n".join(s.get("run", "") for s in steps)
    assert 'billplane ci --base "origin/${{ github.base_ref }}" --head HEAD' in run
    # billplane is not on PyPI: installed from where the repository variable says
    assert 'pip install "$BILLPLANE_PACKAGE"' in run and "pip install billplane" not in run
    upload = next(s for s in steps if "upload-artifact" in s.get("uses", ""))
    comment = next(s for s in steps if "sticky-pull-request-comment" in s.get("uses", ""))
    assert upload["if"] == "always()" and comment["if"].startswith("always()")
    assert comment["with"]["path"] == "billplane-report/report.md"
    # a fork's read-only token cannot comment: the report goes to the run's summary always,
    # and the comment is only tried where the token can write
    assert "github.event.pull_request.head.repo.full_name == github.repository" in comment["if"]
    summary = next(s for s in steps if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    assert summary["if"].startswith("always()") and "report.md" in summary["run"]
    assert steps.index(summary) < steps.index(comment)
    gl = yaml.safe_load((TEMPLATES / "gitlab-ci.yml").read_text())
    script = "\n".join(gl["billplane-policy-check"]["script"])
    assert 'billplane ci --base "$CI_MERGE_REQUEST_DIFF_BASE_SHA" --head HEAD' in script
    assert 'pip install "$BILLPLANE_PACKAGE"' in script
    assert gl["billplane-policy-check"]["artifacts"]["when"] == "always"
    # the commands and options the templates use exist
    assert {"ci", "codeowners"} <= set(COMMANDS)
    args = build_parser().parse_args(["ci", "--base", "origin/main", "--head", "HEAD",
                                      "--jobs", "2", "--out", "billplane-report"])
    assert args.base == "origin/main" and args.jobs == 2


def _gitlab_note_script() -> str:
    gl = yaml.safe_load((TEMPLATES / "gitlab-ci.yml").read_text())
    script = "\n".join(gl["billplane-policy-check"]["script"])
    return script.split("<<'PY'\n", 1)[1].split("\nPY\n", 1)[0]


def test_gitlab_template_keeps_one_note_up_to_date(tmp_path: Path) -> None:
    """The note script against a local stand-in for GitLab's notes API: the first pipeline
    posts the note, the next ones update that note."""
    import http.server
    import subprocess
    import sys
    import threading

    notes: list[dict[str, Any]] = [{"id": 1, "body": "a reviewer's comment"}]
    calls: list[str] = []

    class Notes(http.server.BaseHTTPRequestHandler):
        def _reply(self, value: Any) -> None:
            data = json.dumps(value).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> dict[str, Any]:
            assert self.headers["PRIVATE-TOKEN"] == "token"
            return dict(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            calls.append("GET")
            self._reply(notes)

        def do_POST(self) -> None:  # noqa: N802
            calls.append("POST")
            notes.append({"id": len(notes) + 1, **self._body()})
            self._reply(notes[-1])

        def do_PUT(self) -> None:  # noqa: N802
            calls.append("PUT " + self.path.rsplit("/", 1)[1])
            note = next(n for n in notes if str(n["id"]) == self.path.rsplit("/", 1)[1])
            note.update(self._body())
            self._reply(note)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Notes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {"CI_API_V4_URL": f"http://127.0.0.1:{server.server_address[1]}/api/v4",
           "CI_PROJECT_ID": "7", "CI_MERGE_REQUEST_IID": "3", "BILLPLANE_NOTE_TOKEN": "token",
           "PATH": "/usr/bin:/bin"}
    (tmp_path / "billplane-report").mkdir()
    try:
        for run in ("first", "second", "third"):
            (tmp_path / "billplane-report" / "report.md").write_text(f"report of the {run} run")
            subprocess.run([sys.executable, "-"], input=_gitlab_note_script(), text=True,
                           cwd=tmp_path, env=env, check=True, timeout=30)
    finally:
        server.shutdown()
    assert calls == ["GET", "POST", "GET", "PUT 2", "GET", "PUT 2"]
    assert [n["body"] for n in notes] == [
        "a reviewer's comment", "<!-- billplane-report -->\nreport of the third run"]


def test_github_step_runs_without_a_history_file(needs_engine: Any, tmp_path: Path) -> None:
    """The template's `billplane ci` step, run by bash in a checkout whose history file is
    missing: the check still runs, says so, and writes every report."""
    import os
    import shutil
    import subprocess

    repo = tmp_path / "repo"
    base = make_repo(repo)
    head = branch(repo, base, "vat-21", {"tax/vat.yaml": TAX.replace("rate: 20,", "rate: 21,")})
    git(repo, "update-ref", "refs/remotes/origin/main", base)
    git(repo, "checkout", "-q", head)
    gh = yaml.safe_load((TEMPLATES / "github-actions.yml").read_text())
    step = next(s for s in gh["jobs"]["policy-check"]["steps"] if s.get("id") == "check")
    script = step["run"].replace("${{ github.base_ref }}", "main")
    billplane = shutil.which("billplane", path=str(Path(sys.executable).parent))
    assert billplane, "the billplane console script is installed in this environment"
    output = tmp_path / "github-output"
    env = {**ENV, "PATH": f"{Path(billplane).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           "GITHUB_OUTPUT": str(output), "BILLPLANE_ORDERS": "history/orders.jsonl",
           "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(["bash", "-e", "-c", script], cwd=repo, env=env, text=True,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "order history history/orders.jsonl not found: replay skipped" in done.stdout
    assert output.read_text() == "exit=0\n"
    md = (repo / "billplane-report" / "report.md").read_text()
    assert "replay skipped, impact thresholds could not be evaluated" in md
    assert {p.name for p in (repo / "billplane-report").iterdir()} == {
        "report.md", "report.json", "report.html"}


@pytest.fixture()
def ci_repo(tmp_path: Path) -> tuple[Path, str, str, str]:
    repo = tmp_path / "repo"
    base = make_repo(repo)
    head = branch(repo, base, "vat-21", {"tax/vat.yaml": TAX.replace("rate: 20,", "rate: 21,")})
    history = write_orders(tmp_path / "orders.jsonl", [
        {"id": "A", "date": "2011-02-01", "currency": "GBP", "seller": "northwind-uk",
         "customer": {"id": "C1", "country": "GB", "type": "consumer"},
         "lines": [{"sku": "WIDGET", "quantity": "10"}]},
        {"id": "B", "date": "2011-03-01", "currency": "GBP", "seller": "northwind-uk",
         "customer": {"id": "C2", "country": "DE", "type": "consumer"},
         "lines": [{"sku": "WIDGET", "quantity": "10"}]},
    ])
    return repo, base, head, history


def test_billplane_ci_end_to_end(needs_engine: Any, ci_repo: tuple[Path, str, str, str],
                                 tmp_path: Path, capsys: Any) -> None:
    repo, base, head, history = ci_repo
    out = tmp_path / "out"
    code = main(["ci", "--repo", str(repo), "--base", base, "--head", head,
                 "--orders", history, "--out", str(out)])
    assert code == 0  # approvals are listed, not failures
    data = json.loads((out / "report.json").read_text())
    assert data["check"]["base"]["ok"] and data["check"]["head"]["ok"]
    assert data["base_revision"] == base  # base is an ancestor of head: the merge base
    assert data["changed_paths"] == ["tax/vat.yaml"]
    replayed = data["replay"]
    # A: 100.00 net; VAT 20.00 -> 21.00. B (Germany: 5% promo, 19% VAT: 113.05) is pruned,
    # but evaluated under base for the totals: a threshold reads a percentage of the history
    assert replayed["counts"]["changed"] == 1 and replayed["counts"]["skipped"] == 1
    assert replayed["counts"]["evaluated_base_only"] == 1
    assert replayed["totals_cover"] == "all"
    [gbp] = replayed["totals"]
    assert (gbp["base"]["total"], gbp["head"]["total"], gbp["delta"]["total"]) == (
        "233.05", "234.05", "1.00")
    assert gbp["change_percent"] == "0.43"  # 1.00 / 233.05
    assert data["metrics"]["total_change_percent"] == "0.43"
    assert data["metrics"]["changed_orders_percent"] == "50.00"
    assert [a["team"] for a in data["approvals"]] == ["@acme/tax"]  # owner; 0.43% <= 1%
    md = (out / "report.md").read_text()
    assert md == capsys.readouterr().out
    assert "| GBP | 2 | 233.05 | 234.05 | +1.00 | +0.43% | +1.00 | 0.00 |" in md
    assert "**@acme/tax**: owns tax/vat.yaml" in md
    assert md.index("### Required approvals") < md.index("### Largest changes")
    assert (out / "report.html").exists()
    assert main(["ci", "--repo", str(repo), "--base", base, "--head", head, "--orders",
                 history, "--out", str(out), "--fail-on-approvals"]) == 1


def test_ci_tax_change_issued_is_unknown_for_a_file_history(
        needs_engine: Any, ci_repo: tuple[Path, str, str, str], tmp_path: Path) -> None:
    """A file history does not say which orders were issued: with a tax change, the metric is
    unknown (never 0) and its threshold requires its approval, saying why."""
    repo, base, head, history = ci_repo
    out = tmp_path / "out"
    assert main(["ci", "--repo", str(repo), "--base", base, "--head", head,
                 "--orders", history, "--out", str(out)]) == 0
    data = json.loads((out / "report.json").read_text())
    assert data["replay"]["counts"]["tax_changed_issue_unknown"] == 1  # order A
    assert data["metrics"]["tax_change_issued"] is None
    why = ("the tax of 1 changed orders changed, and the history does not say whether their "
           "invoices were issued (only the service's store does: attributes.issued_invoice)")
    assert data["metrics_unknown"] == {"tax_change_issued": why}
    [tax] = [a for a in data["approvals"] if a["team"] == "@acme/tax"]
    assert tax["reasons"] == ["owns tax/vat.yaml", f"tax_change_issued above 0 could not be "
                              f"evaluated: {why} (approval required to be safe)"]
    # said once, where the approver reads first: the team's line of the approvals
    md = (out / "report.md").read_text()
    assert md.count(why) == 1
    assert (f"- **@acme/tax**: owns tax/vat.yaml; tax_change_issued above 0 could not be "
            f"evaluated: {why} (approval required to be safe)\n") in md
    assert ("**Tax change on already-issued invoices:** unknown (the `tax_change_issued` "
            "threshold above says why).") in md
    assert md.index("### Required approvals") < md.index("already-issued invoices")
    page = (out / "report.html").read_text().replace("&#x27;", "'")
    assert page.count(why) == 1
    assert page.index("Required approvals") < page.index(why) < page.index(
        "Tax change on already-issued invoices: unknown (the tax_change_issued threshold under "
        "Required approvals says why).")
    # without the check's approvals, the replay's own report says why
    replay_md = report_md.render(data["replay"])
    assert f"**Tax change on already-issued invoices:** unknown: {why}." in replay_md
    # orders that say whether they were issued (as the store's do) give the metric
    lines = [json.loads(x) for x in Path(history).read_text().splitlines()]
    lines[0]["attributes"] = {"issued_invoice": "NWUK-2011-000001"}
    lines[1]["attributes"] = {"issued_invoice": ""}
    marked = write_orders(tmp_path / "marked.jsonl", lines)
    assert main(["ci", "--repo", str(repo), "--base", base, "--head", head,
                 "--orders", marked, "--out", str(out)]) == 0
    data = json.loads((out / "report.json").read_text())
    assert data["metrics"]["tax_change_issued"] == "1.00" and data["metrics_unknown"] == {}
    [tax] = [a for a in data["approvals"] if a["team"] == "@acme/tax"]
    assert tax["reasons"] == ["owns tax/vat.yaml", "tax_change_issued = 1.00 is above 0"]


def test_ci_summary_counts_the_pruned_orders_in_the_totals(
        needs_engine: Any, ci_repo: tuple[Path, str, str, str], tmp_path: Path) -> None:
    """A change no order of the history can see (a rate before every order date): every order
    is pruned and, for the percentage threshold, evaluated under base; the summary counts
    the same orders as the money table."""
    repo, base, _, history = ci_repo
    old_rate = branch(repo, base, "old-rate", {"tax/vat.yaml": TAX.replace("rate: 17.5,",
                                                                           "rate: 17,")})
    out = tmp_path / "out"
    assert main(["ci", "--repo", str(repo), "--base", base, "--head", old_rate,
                 "--orders", history, "--out", str(out)]) == 0
    data = json.loads((out / "report.json").read_text())
    counts = data["replay"]["counts"]
    assert (counts["evaluated"], counts["skipped"], counts["evaluated_base_only"]) == (0, 2, 2)
    md = (out / "report.md").read_text()
    assert ("**0** of 2 orders change (0 replayed under both revisions; 2 skipped by impact "
            "pruning, since they cannot change, and evaluated under the base revision only, "
            "for the totals; 2 read from") in md
    assert "| GBP | 2 | 233.05 | 233.05 | 0.00 | 0.00% | 0.00 | 0.00 |" in md
    assert "of 0 replayed" not in md
    assert ("The 2 skipped orders cannot change; they were evaluated under the base revision "
            "for the totals, so the money table covers 2 orders.") in (
        out / "report.html").read_text()


def test_ci_compares_with_the_merge_base(needs_engine: Any, ci_repo: tuple[Path, str, str, str],
                                         tmp_path: Path) -> None:
    """A branch that only touches ownership, checked against a target that changed VAT since
    the branch was cut: only the ownership file is the change, nothing is replayed."""
    repo, base, vat_21, history = ci_repo
    feature = branch(repo, base, "owners-only", {"owners.yaml": OWNERS.replace(
        '"@acme/revops"}', '"@acme/revops"}\n    - {paths: ["owners.yaml"], team: '
        '"@acme/platform"}')})
    git(repo, "update-ref", "refs/heads/target", vat_21)  # the target moved on
    out = tmp_path / "out"
    assert main(["ci", "--repo", str(repo), "--base", "target", "--head", feature,
                 "--orders", history, "--out", str(out)]) == 0
    data = json.loads((out / "report.json").read_text())
    assert data["base_revision"] == base
    assert data["changed_paths"] == ["owners.yaml"]
    assert data["replay"]["counts"]["changed"] == 0
    assert data["approvals"] == []  # base ownership: owners.yaml had no owner yet
    md = (out / "report.md").read_text()
    assert f"Base: the merge base `{base[:12]}` of `target`" in md
    # compared with the target's tip instead, the VAT change would look like part of it
    assert main(["ci", "--repo", str(repo), "--base", "target", "--head", feature,
                 "--orders", history, "--out", str(out), "--no-merge-base"]) == 0
    data = json.loads((out / "report.json").read_text())
    assert data["changed_paths"] == ["owners.yaml", "tax/vat.yaml"]


def test_ci_reports_name_the_revisions_by_the_refs_given(
        needs_engine: Any, ci_repo: tuple[Path, str, str, str], tmp_path: Path) -> None:
    """Approvers read the branch names given and short SHAs, with the commits' subjects, in
    every report of the check; a base ref that moved on since the branch was cut is named as
    the merge base of that ref, not as the ref (which names another commit now)."""
    repo, base, head, history = ci_repo
    out = tmp_path / "out"
    assert main(["ci", "--repo", str(repo), "--base", "main", "--head", "vat-21",
                 "--orders", history, "--out", str(out)]) == 0
    title = f"`main` (`{base[:12]}`) → `vat-21` (`{head[:12]}`)"
    subjects = "_base `main`: base policies; head `vat-21`: vat-21._\n"
    md = (out / "report.md").read_text()
    assert md.startswith(f"## Policy replay: {title}\n{subjects}")
    data = json.loads((out / "report.json").read_text())
    named = {"base": {"revision": base, "ref": "main", "subject": "base policies"},
             "head": {"revision": head, "ref": "vat-21", "subject": "vat-21"}}
    assert data["revisions"] == named
    for side in ("base", "head"):
        assert {k: data["replay"][side][k] for k in ("ref", "subject")} == {
            k: named[side][k] for k in ("ref", "subject")}
    page = (out / "report.html").read_text()
    assert f"<h1>Policy replay: {title.replace('`', '')}</h1>" in page
    assert '<p class="note">head vat-21: vat-21</p>' in page
    # without a history: the check's own reports name them the same way
    assert main(["ci", "--repo", str(repo), "--base", "main", "--head", "vat-21",
                 "--orders", "", "--out", str(out)]) == 0
    assert (out / "report.md").read_text().startswith(f"## Policy check: {title}\n{subjects}")
    assert f"<h1>Policy check: {title.replace('`', '')}</h1>" in (
        out / "report.html").read_text()
    # main moves on: the base is the merge base, named as such
    later = commit(repo, {"notes.txt": "later"}, "later change on main")
    assert later != base
    assert main(["ci", "--repo", str(repo), "--base", "main", "--head", "vat-21",
                 "--orders", history, "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert md.startswith(f"## Policy replay: `main` (merge base `{base[:12]}`) → `vat-21` "
                         f"(`{head[:12]}`)\n_base `main` (merge base): base policies; head "
                         "`vat-21`: vat-21._\n")
    data = json.loads((out / "report.json").read_text())
    assert data["revisions"]["base"] == {"revision": base, "merge_base_of": "main",
                                         "subject": "base policies"}
    assert data["replay"]["base"]["merge_base_of"] == "main"
    assert "ref" not in data["replay"]["base"]
    assert (f"<h1>Policy replay: main (merge base {base[:12]}) → vat-21 ({head[:12]})</h1>"
            in (out / "report.html").read_text())


def test_ci_without_history_requires_threshold_approvals(needs_engine: Any,
                                                         ci_repo: tuple[Path, str, str, str],
                                                         tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    repo, base, head, _ = ci_repo
    monkeypatch.delenv("BILLPLANE_ORDERS", raising=False)
    out = tmp_path / "out"
    assert main(["ci", "--repo", str(repo), "--base", base, "--head", head,
                 "--out", str(out)]) == 0
    data = json.loads((out / "report.json").read_text())
    assert data["replay"] is None and data["metrics"] is None
    assert data["approvals"] == [
        {"team": "@acme/finance", "reasons": [
            "total_change_percent above 1 could not be evaluated: no order history was "
            "replayed (approval required to be safe)"]},
        {"team": "@acme/tax", "reasons": [
            "owns tax/vat.yaml", "tax_change_issued above 0 could not be evaluated: no order "
            "history was replayed (approval required to be safe)"]}]
    md = (out / "report.md").read_text()
    # full SHAs (as the GitLab template passes the base) are named by their short form
    assert md.startswith(f"## Policy check: `{base[:12]}` → `{head[:12]}`\n_base "
                         f"`{base[:12]}`: base policies; head `{head[:12]}`: vat-21._\n")
    assert "replay skipped, impact thresholds could not be evaluated" in md
    page = (out / "report.html").read_text()
    assert "@acme/finance" in page and "could not be evaluated" in page
    # a change no invoice can see (a PolicyTest) needs no threshold approval without history
    tests_only = branch(repo, base, "tests-only", {"tests/shop.yaml": (
        "apiVersion: billplane.dev/v1\nkind: PolicyTest\nmetadata: {name: shop, owner: qa}\n"
        "spec:\n  cases:\n    - name: ten widgets\n      order: {id: T1, date: '2011-02-01', "
        "currency: GBP, seller: northwind-uk, customer: {id: C1, country: GB}, lines: "
        "[{sku: WIDGET, quantity: '10'}]}\n      expect: {totals.total: '120.00'}\n")})
    assert main(["ci", "--repo", str(repo), "--base", base, "--head", tests_only,
                 "--out", str(out)]) == 0
    data = json.loads((out / "report.json").read_text())
    assert data["approvals"] == [] and data["metrics"]["total_change_percent"] == "0"


def test_ci_reports_a_missing_history_file(needs_engine: Any, ci_repo: tuple[Path, str, str, str],
                                           tmp_path: Path) -> None:
    repo, base, head, _ = ci_repo
    out = tmp_path / "out"
    missing = tmp_path / "nope.jsonl"
    assert main(["ci", "--repo", str(repo), "--base", base, "--head", head,
                 "--orders", str(missing), "--out", str(out)]) == 1
    data = json.loads((out / "report.json").read_text())
    assert data["failures"] == [f"replay failed: {missing}: source_unreadable: cannot read "
                                f"{missing}: No such file or directory"]
    assert "@acme/finance" in [a["team"] for a in data["approvals"]]
    assert "### ❌ Check failed" in (out / "report.md").read_text()


def test_ci_markdown_capped_approvals_first() -> None:
    from ci.report import render_md

    paths = [f"tax/country-{i:05d}/vat-rates-and-exemptions.yaml" for i in range(5000)]
    data = {"base": "origin/main", "head": "HEAD", "base_revision": "a" * 40,
            "check": {"base": {"ok": True}, "head": {"ok": True}},
            "tests": {"passed": 1, "failed": 0, "coverage": {"percent": 100}, "cases": []},
            "replay": None, "failures": [], "notes": ["Base: the merge base."],
            "changed_paths": paths,
            "approvals": [{"team": "@acme/tax", "reasons": [f"owns {p}" for p in paths]
                           + ["tax_change_issued = 5 is above 0"]}]}
    md = render_md(data)
    assert len(md) < 10_000
    assert md.index("### Required approvals") < md.index("Changed policy files (5000)")
    assert ("- **@acme/tax**: owns 5000 changed files: tax/country-00000/vat-rates-and-"
            "exemptions.yaml") in md
    assert "and 4995 more; tax_change_issued = 5 is above 0" in md
    assert "- … and 4960 more (report.json has them all)" in md
    # with a replay as well, the approvals stay whole and right after the money summary
    from sandbox.report_md import COMMENT_LIMIT

    data["replay"] = _report_with_rows(3000)
    md = render_md(data)
    assert len(md) <= COMMENT_LIMIT
    assert md.index("| GBP |") < md.index("### Required approvals") < md.index(
        "### Largest changes")
    assert "tax_change_issued = 5 is above 0" in md


def _report_with_rows(n: int) -> dict[str, Any]:
    from test_reports import _big_report

    return _big_report(n)


def test_billplane_ci_fails_when_head_does_not_load(needs_engine: Any,
                                                    ci_repo: tuple[Path, str, str, str],
                                                    tmp_path: Path) -> None:
    repo, base, _, history = ci_repo
    broken = branch(repo, base, "broken", {"tax/vat.yaml": TAX.replace("rate: 20,",
                                                                       "rate: twenty,")})
    out = tmp_path / "out"
    assert main(["ci", "--repo", str(repo), "--base", base, "--head", broken,
                 "--orders", history, "--out", str(out)]) == 1
    data = json.loads((out / "report.json").read_text())
    assert not data["check"]["head"]["ok"]
    assert data["check"]["head"]["errors"][0]["file"] == "tax/vat.yaml"
    md = (out / "report.md").read_text()
    assert "Check failed" in md
    # a revision that does not load is still named by its ref, short SHA and subject
    assert md.startswith(f"## Policy check: `{base[:12]}` → `{broken[:12]}`\n_base "
                         f"`{base[:12]}`: base policies; head `{broken[:12]}`: broken._\n")
    assert data["revisions"]["head"] == {"revision": broken, "ref": broken, "subject": "broken"}
    # the page lists each load error with its place, as the comment does
    [error] = data["check"]["head"]["errors"]
    page = (out / "report.html").read_text()
    assert f"<td>head</td><td>{error['file']}:{error['line']}</td><td>{error['code']}</td>" in page


def test_ci_names_a_failing_test_case_by_its_line(needs_engine: Any,
                                                 ci_repo: tuple[Path, str, str, str],
                                                 tmp_path: Path) -> None:
    """As `billplane test` does: the case's own line, not the document's start."""
    repo, base, _, _ = ci_repo
    suite = ("apiVersion: billplane.dev/v1\nkind: PolicyTest\nmetadata: {name: shop, owner: qa}\n"
             "spec:\n  cases:\n"
             "    - name: ten widgets\n      order: {id: T1, date: '2011-02-01', currency: GBP, "
             "seller: northwind-uk, customer: {id: C1, country: GB}, lines: [{sku: WIDGET, "
             "quantity: '10'}]}\n      expect: {totals.total: '120.00'}\n"
             "    - name: wrong total\n      order: {id: T2, date: '2011-02-01', currency: GBP, "
             "seller: northwind-uk, customer: {id: C1, country: GB}, lines: [{sku: WIDGET, "
             "quantity: '10'}]}\n      expect: {totals.total: '121.00'}\n")
    failing = branch(repo, base, "failing-test", {"tests/shop.yaml": suite})
    out = tmp_path / "out"
    assert main(["ci", "--repo", str(repo), "--base", base, "--head", failing,
                 "--out", str(out)]) == 1
    data = json.loads((out / "report.json").read_text())
    [case] = [c for c in data["tests"]["cases"] if not c["passed"]]
    assert case["where"] == "tests/shop.yaml:9"  # `- name: wrong total`
    assert "- ❌ `tests/shop.yaml:9` shop / wrong total" in (out / "report.md").read_text()
    assert "<td>tests/shop.yaml:9</td>" in (out / "report.html").read_text()
    # with a replay, the page still names the failing case and the changed files
    _, _, _, history = ci_repo
    assert main(["ci", "--repo", str(repo), "--base", base, "--head", failing,
                 "--orders", history, "--out", str(out)]) == 1
    page = (out / "report.html").read_text()
    assert "<h1>Policy replay: " in page
    assert "<td>tests/shop.yaml:9</td><td>shop</td><td>wrong total</td>" in page
    assert "1 passed, 1 failed" in page and "<td>tests/shop.yaml</td>" in page
    assert '<p class="note">❌ Check failed: 1 policy test case(s) fail at head</p>' in page


def test_codeowners_command(needs_engine: Any, ci_repo: tuple[Path, str, str, str],
                            capsys: Any) -> None:
    repo = ci_repo[0]
    assert main(["codeowners", str(repo / "policies"), "--prefix", "policies"]) == 0
    assert "/policies/tax/** @acme/tax" in capsys.readouterr().out
    assert ENV and git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"


def test_codeowners_from_inside_the_policy_folder(needs_engine: Any,
                                                  ci_repo: tuple[Path, str, str, str],
                                                  capsys: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    repo = ci_repo[0]
    monkeypatch.chdir(repo / "policies")
    assert main(["codeowners", "."]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2:] == ["/policies/tax/** @acme/tax", "/policies/pricing/** @acme/revops"]
    monkeypatch.chdir(repo)
    assert main(["codeowners", "./policies/../policies"]) == 0
    assert capsys.readouterr().out.splitlines()[2:] == lines[2:]


def test_ci_comment_fits_with_the_marker_the_comment_tools_add() -> None:
    """The GitHub template's sticky-comment action appends its marker to report.md and
    GitHub refuses a comment above 65,536 characters; the GitLab template puts its own marker
    first. A report cut to the limit must leave room for them."""
    from ci.report import render_md

    sticky = "\n<!-- Sticky Pull Request Commentbillplane -->"  # header: billplane
    gitlab = "<!-- billplane-report -->\n"
    teams = [{"team": f"@acme/t{i:04d}", "reasons": [f"owns tax/{i:04d}.yaml"]}
             for i in range(3000)]
    data = {"base": "origin/main", "head": "HEAD", "base_revision": "a" * 40,
            "check": {"base": {"ok": True}, "head": {"ok": True}},
            "tests": {"passed": 1, "failed": 0, "coverage": {"percent": 100}, "cases": []},
            "replay": None, "failures": [], "notes": [], "changed_paths": [],
            "approvals": teams}
    for replayed in (None, _report_with_rows(3000)):
        data["replay"] = replayed
        md = render_md(data)
        assert len(md + sticky) <= 65536 and len(gitlab + md) <= 65536


def _well_formed(md: str) -> None:
    """Markdown a PR comment renders as meant: code spans closed on each line, details
    blocks closed, no bullet or table row cut short."""
    for line in md.splitlines():
        assert line.count("`") % 2 == 0, line
        if line.startswith("| "):
            assert line.endswith(" |"), line
    assert md.count("<details>") == md.count("</details>")


@pytest.mark.parametrize("replayed", [False, True], ids=["without-replay", "with-replay"])
def test_ci_comment_condenses_too_many_approvals_instead_of_cutting_them(
        replayed: bool) -> None:
    """So many teams must approve that their list alone exceeds the comment limit: the
    comment says how many, lists the first of them whole, and says where the others are;
    it is never cut in the middle of the list."""
    from ci.report import render_md
    from sandbox.report_md import REPORT_LIMIT

    teams = [{"team": f"@acme/team-{i:04d}", "reasons": [
        f"owns tax/country-{i:04d}/vat-rates-and-exemptions-{j}.yaml" for j in range(8)]
        + [f"tax_change_issued = {i} is above 0"]} for i in range(2000)]
    data = {"base": "origin/main", "head": "HEAD", "base_revision": "a" * 40,
            "check": {"base": {"ok": True}, "head": {"ok": True}},
            "tests": {"passed": 1, "failed": 0, "coverage": {"percent": 100}, "cases": []},
            "replay": _report_with_rows(300) if replayed else None, "failures": [],
            "notes": ["Base: the merge base."], "changed_paths": ["tax/vat.yaml"],
            "approvals": teams}
    md = render_md(data)
    assert len(md) <= REPORT_LIMIT
    assert "Approvals are required from **2000 teams**; the first 100 are listed here; " \
           "report.json and report.html list all 2000 with every reason." in md
    listed = [line for line in md.splitlines() if line.startswith("- **@acme/team-")]
    assert len(listed) == 100
    assert listed[0].startswith("- **@acme/team-0000**: owns 8 changed files: tax/country-0000/")
    assert listed[-1].startswith("- **@acme/team-0099**: owns 8 changed files: ")
    assert "- … and 1900 more teams (report.json and report.html list them all)" in md
    assert "Report truncated" not in md and "Truncated" not in md
    assert "**Policy tests (head):** 1 passed, 0 failed" in md
    _well_formed(md)
    if replayed:
        assert md.index("| GBP |") < md.index("### Required approvals")
        return
    # tighter limits: fewer teams, shorter reasons, still the count and the first ones
    for limit, shown, line in (
            (4000, 20, "- **@acme/team-0019**: owns 8 changed files; tax_change_issued = 19 "
                       "is above 0"),
            (1500, 10, "- **@acme/team-0009**"), (500, 0, "")):
        md = render_md(data, limit=limit)
        assert len(md) <= limit
        assert "Approvals are required from **2000 teams**" in md
        listed = [x for x in md.splitlines() if x.startswith("- **@acme/team-")]
        assert len(listed) == shown
        if shown:
            assert listed[-1] == line
            assert f"- … and {2000 - shown} more teams (report.json and report.html" in md
        else:
            assert "report.json and report.html list all 2000 with every reason." in md
        _well_formed(md)


@pytest.mark.parametrize("side", ["base", "head"])
def test_ci_with_a_revision_that_does_not_exist(needs_engine: Any,
                                                ci_repo: tuple[Path, str, str, str],
                                                tmp_path: Path, side: str) -> None:
    """The unknown revision is the failure, named where it is; not a missing ancestor."""
    repo, base, head, history = ci_repo
    refs = {"base": base, "head": head, side: "no-such-branch"}
    out = tmp_path / "out"
    assert main(["ci", "--repo", str(repo), "--base", refs["base"], "--head", refs["head"],
                 "--orders", history, "--out", str(out)]) == 1
    data = json.loads((out / "report.json").read_text())
    assert data["failures"] == [f"policies do not load: {side}"]
    [error] = data["check"][side]["errors"]
    assert error["code"] == "unknown_revision"
    assert "'no-such-branch' does not exist" in error["message"]
    assert not any("common ancestor" in n for n in data["notes"])
    md = (out / "report.md").read_text()
    assert f"  - {side}: `{repo}` unknown_revision: revision 'no-such-branch' does not " in md


def test_a_percentage_of_a_zero_base_total_is_unknown_and_requires_approval() -> None:
    """Free orders that now cost something: the change is no percentage of a zero base, so
    a percentage threshold cannot read it as 0% and pass."""
    from test_reports import _doc

    from sandbox.aggregate import Aggregate
    from sandbox.prune import Predicate
    from sandbox.replay import ReplayResult
    from sandbox.report import build, metrics, unknown_metrics

    agg = Aggregate()
    order = {"id": "A", "date": "2011-02-01", "currency": "GBP", "customer": {"id": "C1"}}
    agg.add_order(order, _doc(0, "0.00", "0.00"), _doc(0, "2.00", "12.00"))
    report = build(ReplayResult(agg, Predicate(everything=True, reasons=["all orders: test"]),
                                {"revision": "a" * 40}, {"revision": "b" * 40}, "test", 1.0, 1))
    assert report["totals"][0]["change_percent"] == "n/a"
    found = metrics(report)
    assert "total_change_percent" not in found and "tax_change_percent" not in found
    unknown = unknown_metrics(report)
    assert unknown["total_change_percent"] == (
        "the base total of GBP is zero and changes (no percentage of it)")
    assert unknown["tax_change_percent"] == (
        "the base tax of GBP is zero and changes (no percentage of it)")
    [finance, _] = required_approvals(_bundle(), [], found, unknown=unknown)
    assert finance == {"team": "@acme/finance", "reasons": [
        "total_change_percent above 1 could not be evaluated: the base total of GBP is zero "
        "and changes (no percentage of it) (approval required to be safe)"]}


@pytest.mark.parametrize("content", ["", "not json\n[1, 2]\n"], ids=["empty", "bad-only"])
def test_ci_with_a_history_without_orders_requires_threshold_approvals(
        needs_engine: Any, ci_repo: tuple[Path, str, str, str], tmp_path: Path,
        content: str) -> None:
    """An empty export (or one of bad records only) is no evidence that nothing changes: the
    thresholds require their approvals, as without a history, and the report says why."""
    repo, base, head, _ = ci_repo
    history = tmp_path / "empty.jsonl"
    history.write_text(content)
    out = tmp_path / "out"
    assert main(["ci", "--repo", str(repo), "--base", base, "--head", head,
                 "--orders", str(history), "--out", str(out)]) == 0
    data = json.loads((out / "report.json").read_text())
    assert data["replay"]["counts"]["evaluated"] == 0 and data["metrics"] is None
    why = ("could not be evaluated: the order history has no order to replay (approval "
           "required to be safe)")
    assert data["approvals"] == [
        {"team": "@acme/finance", "reasons": [f"total_change_percent above 1 {why}"]},
        {"team": "@acme/tax", "reasons": ["owns tax/vat.yaml", f"tax_change_issued above 0 {why}"]}]
    bad = content.count("\n")
    assert (f"The order history has no order to replay ({bad} records read, {bad} bad)"
            in (out / "report.md").read_text())


def test_a_fall_is_reported_as_a_fall_and_compared_by_its_size() -> None:
    """A VAT cut lowers totals: the metrics keep the sign of the change of the largest size
    (a fall is not reported as a rise), and a threshold compares its size."""
    from test_reports import _doc

    from sandbox.aggregate import Aggregate
    from sandbox.prune import Predicate
    from sandbox.replay import ReplayResult
    from sandbox.report import build, metrics

    agg = Aggregate()
    for i, (cur, base_tax, head_tax) in enumerate((("GBP", "20.00", "15.00"),
                                                   ("EUR", "19.00", "20.00"))):
        order = {"id": f"O{i}", "date": "2011-02-01", "currency": cur,
                 "customer": {"id": "C1"}}
        base = _doc(i, base_tax, f"{100 + Decimal(base_tax):.2f}")
        head = _doc(i, head_tax, f"{100 + Decimal(head_tax):.2f}")
        for doc in (base, head):
            doc["doc"]["currency"] = cur
        agg.add_order(order, base, head)
    report = build(ReplayResult(agg, Predicate(everything=True, reasons=["all orders: test"]),
                                {"revision": "a" * 40}, {"revision": "b" * 40}, "test", 1.0, 1))
    found = metrics(report)
    # GBP falls by 5.00 (-4.17%), EUR rises by 1.00: the GBP fall is the largest change
    assert (found["total_change"], found["tax_change"]) == (Decimal("-5.00"), Decimal("-5.00"))
    assert found["total_change_percent"] == Decimal("-4.17")
    [finance, _] = required_approvals(_bundle(), [], found)
    assert finance == {"team": "@acme/finance", "reasons": [
        "total_change_percent = -4.17: its size 4.17 is above 1"]}
    # a fall within the threshold needs no approval
    small = {**found, "total_change_percent": Decimal("-0.5")}
    assert "@acme/finance" not in [a["team"] for a in required_approvals(_bundle(), [], small)]


def test_ci_says_uncommitted_policy_changes_are_not_checked(
        needs_engine: Any, ci_repo: tuple[Path, str, str, str], tmp_path: Path,
        capsys: Any) -> None:
    """An author who edits a policy and runs the check before committing is told the edit is
    not part of it (the check reads commits), rather than reading "no change" as a pass."""
    repo, base, head, history = ci_repo
    git(repo, "checkout", "-q", "vat-21")
    try:
        vat = repo / "policies" / "tax" / "vat.yaml"
        vat.write_text(vat.read_text().replace("rate: 21,", "rate: 22,"))
        (repo / "policies" / "tax" / "new.yaml").write_text("# not yet added\n")
        (repo / "policies" / "notes.txt").write_text("not a policy file\n")
        (repo / "billplane-report").mkdir()
        (repo / "billplane-report" / "report.md").write_text("an earlier report\n")
        out = tmp_path / "out"
        assert main(["ci", "--repo", str(repo), "--base", "main", "--orders", history,
                     "--out", str(out)]) == 0
        note = ("The working tree has 2 uncommitted change(s) in `policies` "
                "(`policies/tax/new.yaml`, `policies/tax/vat.yaml`): they are not part of this "
                "check, which reads the commit `HEAD` names; commit them to check them.")
        assert note in json.loads((out / "report.json").read_text())["notes"]
        assert f"_{note}_" in (out / "report.md").read_text()
        capsys.readouterr()
        assert main(["replay", "--repo", str(repo), "--base", "main", "--head", "HEAD",
                     "--orders", history]) == 0
        assert ("note: 2 uncommitted change(s) in policies are not part of this replay, which "
                "reads the commit HEAD names: policies/tax/new.yaml, policies/tax/vat.yaml"
                in capsys.readouterr().err)
        # a head that is not the checked-out commit has nothing to do with the working tree
        assert main(["ci", "--repo", str(repo), "--base", "main", "--head", base,
                     "--orders", history, "--out", str(out)]) == 0
        assert not any("uncommitted" in n for n in json.loads(
            (out / "report.json").read_text())["notes"])
    finally:
        git(repo, "checkout", "-q", "--", ".")
        git(repo, "checkout", "-q", "main")


def test_ci_reports_name_head_by_the_branch_it_is_on(
        needs_engine: Any, ci_repo: tuple[Path, str, str, str], tmp_path: Path) -> None:
    """`--head HEAD` (the default) or `--base HEAD` names the branch checked out, with HEAD
    beside it, in every report; a detached HEAD (a CI merge commit) stays HEAD."""
    repo, base, head, history = ci_repo
    out = tmp_path / "out"
    git(repo, "checkout", "-q", "vat-21")
    assert main(["ci", "--repo", str(repo), "--base", "main", "--orders", history,
                 "--out", str(out)]) == 0
    title = f"`main` (`{base[:12]}`) → `vat-21` (HEAD at `{head[:12]}`)"
    subjects = "_base `main`: base policies; head `vat-21` (HEAD): vat-21._\n"
    assert (out / "report.md").read_text().startswith(f"## Policy replay: {title}\n{subjects}")
    data = json.loads((out / "report.json").read_text())
    assert data["revisions"]["head"] == {"revision": head, "ref": "HEAD", "branch": "vat-21",
                                         "subject": "vat-21"}
    assert data["replay"]["head"]["branch"] == "vat-21"
    assert f"<h1>Policy replay: {title.replace('`', '')}</h1>" in (
        out / "report.html").read_text()
    assert main(["ci", "--repo", str(repo), "--base", "main", "--orders", "",
                 "--out", str(out)]) == 0
    assert (out / "report.md").read_text().startswith(f"## Policy check: {title}\n{subjects}")
    assert f"<h1>Policy check: {title.replace('`', '')}</h1>" in (
        out / "report.html").read_text()
    # the base given as HEAD: on main, and main then moving on (the merge base)
    git(repo, "checkout", "-q", "main")
    assert main(["ci", "--repo", str(repo), "--base", "HEAD", "--head", "vat-21",
                 "--orders", history, "--out", str(out)]) == 0
    assert (out / "report.md").read_text().startswith(
        f"## Policy replay: `main` (HEAD at `{base[:12]}`) → `vat-21` (`{head[:12]}`)\n"
        "_base `main` (HEAD): base policies; head `vat-21`: vat-21._\n")
    commit(repo, {"notes.txt": "later"}, "later change on main")
    assert main(["ci", "--repo", str(repo), "--base", "HEAD", "--head", "vat-21",
                 "--orders", history, "--out", str(out)]) == 0
    assert (out / "report.md").read_text().startswith(
        f"## Policy replay: `main` (HEAD, merge base `{base[:12]}`) → `vat-21` "
        f"(`{head[:12]}`)\n_base `main` (HEAD, merge base): base policies; head `vat-21`: "
        "vat-21._\n")
    # detached, as a CI checkout of a merge commit
    git(repo, "checkout", "-q", "--detach", "vat-21")
    assert main(["ci", "--repo", str(repo), "--base", "main", "--orders", "",
                 "--out", str(out)]) == 0
    assert (out / "report.md").read_text().startswith(
        f"## Policy check: `main` (merge base `{base[:12]}`) → `HEAD` (`{head[:12]}`)\n")
    assert "branch" not in json.loads((out / "report.json").read_text())["revisions"]["head"]


def test_ci_reports_escape_hostile_branch_names_and_subjects(
        needs_engine: Any, ci_repo: tuple[Path, str, str, str], tmp_path: Path) -> None:
    """A branch name and a commit subject are user text: in the comment they read as
    themselves (no table split, emphasis or HTML); the HTML page escapes them."""
    repo, base, _, history = ci_repo
    name, subject = "vat/<b>|`x`", "Cut VAT | *all* rates <b>"
    git(repo, "checkout", "-q", "-b", name, base)
    head = commit(repo, {"tax/vat.yaml": TAX.replace("rate: 20,", "rate: 21,")}, subject)
    git(repo, "checkout", "-q", "main")
    out = tmp_path / "out"
    assert main(["ci", "--repo", str(repo), "--base", "main", "--head", name,
                 "--orders", history, "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert md.startswith(f"## Policy replay: `main` (`{base[:12]}`) → `` vat/<b>|`x` `` "
                         f"(`{head[:12]}`)\n_base `main`: base policies; head `` vat/<b>|`x` ``: "
                         "Cut VAT \\| \\*all\\* rates \\<b\\>._\n")
    assert f"Base: the merge base `{base[:12]}` of `main` and `` vat/<b>|`x` ``" in md
    page = (out / "report.html").read_text()
    assert "<b>" not in page
    assert (f"<h1>Policy replay: main ({base[:12]}) → vat/&lt;b&gt;|`x` ({head[:12]})</h1>"
            in page)
    assert "head vat/&lt;b&gt;|`x`: Cut VAT | *all* rates &lt;b&gt;</p>" in page

"""The PR check: `billplane ci` on a temporary repository, ownership, CODEOWNERS, templates."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from sandbox_repo import ENV, OWNERS, TAX, branch, git, make_repo, write_orders

from api.cli.main import COMMANDS, build_parser, main
from ci.ownership import codeowners, matches, required_approvals

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
    assert "billplane ci --base origin/${{ github.base_ref }} --head HEAD" in run
    assert any("upload-artifact" in s.get("uses", "") for s in steps)
    assert any(s.get("with", {}).get("path") == "billplane-report/report.md" for s in steps)
    gl = yaml.safe_load((TEMPLATES / "gitlab-ci.yml").read_text())
    script = "\n".join(gl["billplane-policy-check"]["script"])
    assert "billplane ci --base" in script
    # the commands and options the templates use exist
    assert {"ci", "codeowners"} <= set(COMMANDS)
    args = build_parser().parse_args(["ci", "--base", "origin/main", "--head", "HEAD",
                                      "--jobs", "2", "--out", "billplane-report"])
    assert args.base == "origin/main" and args.jobs == 2


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
    assert data["changed_paths"] == ["tax/vat.yaml"]
    replayed = data["replay"]
    # A: 100.00 net; VAT 20.00 -> 21.00. B (Germany) is pruned.
    assert replayed["counts"]["changed"] == 1 and replayed["counts"]["skipped"] == 1
    [gbp] = replayed["totals"]
    assert (gbp["base"]["total"], gbp["head"]["total"], gbp["delta"]["total"]) == (
        "120.00", "121.00", "1.00")
    assert gbp["change_percent"] == "0.83"  # 1.00 / 120.00
    assert data["metrics"]["total_change_percent"] == "0.83"
    assert [a["team"] for a in data["approvals"]] == ["@acme/tax"]  # owner; 0.83% <= 1%
    md = (out / "report.md").read_text()
    assert md == capsys.readouterr().out
    assert "| GBP | 120.00 | 121.00 | +1.00 | +0.83% | +1.00 |" in md
    assert "**@acme/tax**: owns tax/vat.yaml" in md
    assert (out / "report.html").exists()
    assert main(["ci", "--repo", str(repo), "--base", base, "--head", head, "--orders",
                 history, "--out", str(out), "--fail-on-approvals"]) == 1


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
    assert "Check failed" in (out / "report.md").read_text()


def test_codeowners_command(needs_engine: Any, ci_repo: tuple[Path, str, str, str],
                            capsys: Any) -> None:
    repo = ci_repo[0]
    assert main(["codeowners", str(repo / "policies"), "--prefix", "policies"]) == 0
    assert "/policies/tax/** @acme/tax" in capsys.readouterr().out
    assert ENV and git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"

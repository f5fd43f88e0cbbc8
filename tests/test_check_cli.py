"""`billplane check` and `billplane schema` as authors and CI run them: exit codes, output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from api.cli.main import main

GOOD = """apiVersion: billplane.dev/v1
kind: PricingRule
metadata:
  name: enterprise-10
spec:
  when: "order.customer.segment == 'enterprise'"
  effect: {percent_off: 10}
"""
BROKEN = GOOD.replace("segment", "segmnt").replace("percent_off: 10", "percent_of: 10")


def _git(repo: Path, *args: str) -> None:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x", "HOME": str(repo), "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


@pytest.fixture()
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """policies/rules.yaml, in the working directory."""
    monkeypatch.chdir(tmp_path)
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "rules.yaml").write_text(GOOD)
    return pol


def test_valid_tree_exits_0_with_a_summary(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tree)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: 1 files, 1 rules, revision working tree")


def test_errors_exit_1_one_line_each(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "rules.yaml").write_text(BROKEN)
    assert main(["check", str(tree)]) == 1
    lines = capsys.readouterr().out.splitlines()
    # both mistakes of the document: the CEL typo is checked despite the unknown field
    assert lines == [
        "policies/rules.yaml:6:25: cel_unknown_field: spec.when: undefined field 'segmnt' not "
        "found in struct 'billplane.Customer' [enterprise-10]",
        "policies/rules.yaml:7:12: unknown_field: unknown field 'percent_of' in spec.effect "
        "(allowed: amount_off, override_unit_amount, percent_off) [enterprise-10]"]


def test_cel_error_in_json_format(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "rules.yaml").write_text(GOOD.replace("segment", "segmnt"))
    assert main(["check", str(tree), "--format", "json"]) == 1
    (diag,) = json.loads(capsys.readouterr().out)["errors"]
    # expression starts at column 10 (after the quote); 'segmnt' is its 16th character
    assert {k: diag[k] for k in ("code", "file", "line", "column", "rule")} == {
        "code": "cel_unknown_field", "file": "policies/rules.yaml", "line": 6, "column": 25,
        "rule": "enterprise-10"}


def test_valid_json_format(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tree), "--format", "json", "--backend", "cel-python"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["ok"], out["rules"], out["backend"], out["errors"]) == (
        True, 1, "cel-python", [])


def test_json_format_is_one_object_valid_or_not(
        tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tree), "--format", "json"]) == 0
    valid = json.loads(capsys.readouterr().out)
    (tree / "rules.yaml").write_text(BROKEN)
    assert main(["check", str(tree), "--format", "json"]) == 1
    broken = json.loads(capsys.readouterr().out)
    assert isinstance(broken, dict) and broken.keys() == valid.keys()
    assert (broken["ok"], broken["files"], broken["rules"], broken["backend"]) == (
        False, 1, None, "cel-expr")
    assert [e["code"] for e in broken["errors"]] == ["cel_unknown_field", "unknown_field"]
    assert broken["digest"] != valid["digest"] and broken["warnings"] == []


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert main(["check", str(tmp_path / "missing")]) == 2
    (tmp_path / "orders").mkdir()  # a directory without policies, named by mistake
    (tmp_path / "orders" / "o.json").write_text("{}")
    assert main(["check", str(tmp_path / "orders")]) == 2
    with pytest.raises(SystemExit) as info:
        main(["check", "--format", "yaml"])
    assert info.value.code == 2


def test_ref_checks_each_commit_of_a_repository(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "rules.yaml").write_text(GOOD)
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "valid")
    (pol / "rules.yaml").write_text(BROKEN)
    _git(tmp_path, "commit", "-q", "-am", "broken")
    (pol / "rules.yaml").write_text(GOOD)  # the working tree is valid again, uncommitted
    assert main(["check", str(pol), "--ref", "HEAD~1"]) == 0
    assert "revision " in capsys.readouterr().out
    assert main(["check", str(pol), "--ref", "main"]) == 1
    assert "unknown_field" in capsys.readouterr().out
    assert main(["check", str(pol)]) == 0
    # a revision, or a directory at it, that does not exist: a usage error, as a missing
    # directory is
    assert main(["check", str(pol), "--ref", "does-not-exist"]) == 2
    assert capsys.readouterr().err.startswith(
        "billplane check: revision 'does-not-exist' does not exist in this repository")
    assert main(["check", str(tmp_path / "nope"), "--ref", "HEAD"]) == 2
    assert capsys.readouterr().err.startswith("billplane check: nope does not exist at revision")


def test_ref_from_a_subdirectory_of_the_repository(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    pol = tmp_path / "company" / "policies"
    pol.mkdir(parents=True)
    (pol / "rules.yaml").write_text(GOOD)
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "valid")
    assert main(["check", str(pol), "--ref", "HEAD"]) == 0
    assert "ok: 1 files, 1 rules" in capsys.readouterr().out


def test_console_script_runs_as_a_process(tree: Path) -> None:
    (tree / "rules.yaml").write_text(BROKEN)
    exe = Path(sys.executable).parent / "billplane"
    result = subprocess.run([str(exe), "check", str(tree)], capture_output=True, text=True,
                            env={**os.environ}, cwd=tree.parent)
    assert result.returncode == 1
    assert result.stdout.startswith("policies/rules.yaml:6:25: cel_unknown_field:")
    assert "Traceback" not in result.stderr


def test_schema_command_writes_editor_schemas(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "schemas"
    assert main(["schema", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"# yaml-language-server: $schema={(out / 'policy.json').as_uri()}" in printed
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["creditpolicy.json", "invoiceseries.json", "order.json",
                            "ownership.json", "policy.json", "policytest.json",
                            "pricebook.json", "pricingrule.json", "recognitionrule.json",
                            "taxrule.json", "validationrule.json"])
    # each schema's $id is the written file, so policy.json dispatches on kind through
    # relative references to the files beside it
    registry: Registry = Registry()
    for path in out.iterdir():
        contents = json.loads(path.read_text())
        assert contents["$id"] == path.resolve().as_uri()
        registry = registry.with_resource(contents["$id"], Resource.from_contents(contents))
    policy = json.loads((out / "policy.json").read_text())
    validator = Draft202012Validator(policy, registry=registry)
    good = {"apiVersion": "billplane.dev/v1", "kind": "PricingRule",
            "metadata": {"name": "x"}, "spec": {"effect": {"percent_off": 10}}}
    assert not list(validator.iter_errors(good))
    bad = {**good, "spec": {"effect": {"percent_off": 10}, "colour": "red"}}
    assert [e.validator for e in validator.iter_errors(bad)] == ["additionalProperties"]


def test_paths_are_printed_as_the_user_can_open_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    credit = tmp_path / "policies" / "credit"
    credit.mkdir(parents=True)
    (credit / "terms.yaml").write_text(GOOD)
    (tmp_path / "policies" / "again.yaml").write_text(GOOD)  # the same rule name again
    monkeypatch.chdir(tmp_path)
    assert main(["check", "policies"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "policies/credit/terms.yaml:4:9: duplicate_rule: rule name 'enterprise-10' is already "
        "used by the PricingRule at policies/again.yaml:4 [enterprise-10]"]
    # the same tree named by its absolute path, from inside it, and from elsewhere
    assert main(["check", str(tmp_path / "policies"), "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["errors"][0]["file"] == \
        "policies/credit/terms.yaml"
    monkeypatch.chdir(credit)
    assert main(["check", str(tmp_path / "policies")]) == 1
    assert capsys.readouterr().out.startswith(f"{tmp_path}/policies/credit/terms.yaml:4:9:")
    # at a revision, paths are relative to the repository root wherever the command runs
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "twice")
    assert main(["check", str(tmp_path / "policies"), "--ref", "HEAD"]) == 1
    assert capsys.readouterr().out.startswith("policies/credit/terms.yaml:4:9:")


def test_ref_outside_a_repository_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "policies").mkdir()
    assert main(["check", str(tmp_path / "policies"), "--ref", "HEAD"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"billplane check: {tmp_path / 'policies'}: not inside a git "
                          "repository")


def test_what_was_not_read_is_listed_as_warnings(
        tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "shared.yaml").symlink_to("rules.yaml")
    assert main(["check", str(tree)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("policies/shared.yaml: skipped_symlink: symbolic link to rules.yaml is "
                      "not read (policies are regular files, on disk and at a git revision "
                      "alike)")
    assert out[1].startswith("ok: 1 files, 1 rules")
    assert main(["check", str(tree), "--format", "json"]) == 0
    (warning,) = json.loads(capsys.readouterr().out)["warnings"]
    assert (warning["code"], warning["file"], warning["severity"]) == (
        "skipped_symlink", "policies/shared.yaml", "warning")


def test_schema_out_naming_a_file_says_what_to_do(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    taken = tmp_path / "schemas.json"
    taken.write_text("{}")
    for out in (taken, taken / "sub"):  # the file itself, or a directory inside it
        assert main(["schema", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err == (f"billplane schema: --out {out}: {taken} is a file, not a directory: "
                       "name a directory to write the schemas into (a missing one is created), "
                       "or move the file away\n")
    assert taken.read_text() == "{}"
    (tmp_path / "dir" / "policy.json").mkdir(parents=True)  # a schema's name is taken
    assert main(["schema", "--out", str(tmp_path / "dir")]) == 2
    assert "policy.json: Is a directory; choose another directory" in capsys.readouterr().err

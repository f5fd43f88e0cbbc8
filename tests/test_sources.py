"""Policy sources: directory, memory and git revisions read without a checkout."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from api.sources import DirectorySource, GitSource, MemorySource, is_policy_path, load_from
from engine.errors import BillplaneError

POLICY = """apiVersion: billplane.dev/v1
kind: CreditPolicy
metadata:
  name: {name}
spec:
  terms: {{net_days: {days}}}
"""


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                         text=True, env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
                                         "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
                                         "HOME": str(repo), "PATH": "/usr/bin:/bin"})
    return out.stdout.strip()


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A repository with two commits: net 30 then net 45 (and a renamed file)."""
    _git(tmp_path, "init", "-q", "-b", "main")
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "terms.yaml").write_text(POLICY.format(name="terms", days=30))
    (tmp_path / "README.md").write_text("not a policy")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "first")
    (pol / "terms.yaml").write_text(POLICY.format(name="terms", days=45))
    (pol / "sub").mkdir()
    (pol / "sub" / "more.yml").write_text(POLICY.format(name="more", days=10))
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "second")
    return tmp_path


def test_policy_paths_are_yaml_without_dot_parts() -> None:
    assert is_policy_path("a/b.yaml") and is_policy_path("c.yml")
    assert not is_policy_path("a/.hidden.yaml")
    assert not is_policy_path(".github/x.yaml")
    assert not is_policy_path("notes.md")


def test_directory_source_reads_yaml_and_skips_dot_dirs(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("x: 1\n")
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "b.yml").write_text("y: 2\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "c.yaml").write_text("z: 3\n")
    (tmp_path / "readme.txt").write_text("hello")
    assert DirectorySource(tmp_path).files() == {"a.yaml": b"x: 1\n",
                                                 "deep/er/b.yml": b"y: 2\n"}


def test_directory_source_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BillplaneError) as info:
        DirectorySource(tmp_path / "nope").files()
    assert info.value.code == "not_found"


def test_memory_source_filters_and_encodes() -> None:
    src = MemorySource({"a.yaml": "x: 1\n", "b.txt": "no"}, revision="mem")
    assert src.files() == {"a.yaml": b"x: 1\n"}
    assert src.revision == "mem"


def test_two_git_revisions_load_side_by_side(repo: Path) -> None:
    first_sha = _git(repo, "rev-parse", "HEAD~1")
    head_sha = _git(repo, "rev-parse", "HEAD")
    old = load_from(GitSource(repo, "HEAD~1"), backend="cel-expr")
    new = load_from(GitSource(repo, "main"), backend="cel-expr")
    assert (old.revision, new.revision) == (first_sha, head_sha)
    assert old.docs["terms"].spec["terms"]["net_days"] == 30
    assert new.docs["terms"].spec["terms"]["net_days"] == 45
    assert old.files == ("terms.yaml",)
    assert new.files == ("sub/more.yml", "terms.yaml")
    assert old.digest != new.digest
    # the working tree was not touched: it still holds the second commit's content
    assert "45" in (repo / "policies" / "terms.yaml").read_text()


def test_git_source_at_repo_root_with_empty_subdir(repo: Path) -> None:
    files = GitSource(repo, "HEAD", subdir="").files()
    assert set(files) == {"policies/terms.yaml", "policies/sub/more.yml"}


def test_git_digest_equals_directory_digest_for_same_content(repo: Path) -> None:
    from_git = load_from(GitSource(repo, "HEAD"))
    from_dir = load_from(DirectorySource(repo / "policies"))
    assert from_git.digest == from_dir.digest


def test_unknown_revision(repo: Path) -> None:
    with pytest.raises(BillplaneError) as info:
        GitSource(repo, "no-such-branch")
    assert info.value.code == "unknown_revision"


def test_missing_subdir_at_revision(repo: Path) -> None:
    with pytest.raises(BillplaneError) as info:
        GitSource(repo, "HEAD", subdir="nowhere").files()
    assert info.value.code == "not_found"


def test_binary_yaml_in_git_is_reported(repo: Path) -> None:
    (repo / "policies" / "logo.yaml").write_bytes(b"\x89PNG\x00\x00binary")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "oops")
    with pytest.raises(BillplaneError) as info:
        load_from(GitSource(repo, "HEAD"))
    assert [(d.code, d.location.file) for d in info.value.diagnostics] == [
        ("binary_file", "logo.yaml")]

"""Policy sources: directory, memory and git revisions read without a checkout."""

from __future__ import annotations

import os
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
  priority: {days}
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


def _links_tree(root: Path) -> Path:
    """A policy tree with a real file and every kind of link that is not read."""
    pol = root / "policies"
    (pol / "real").mkdir(parents=True)
    (pol / "real" / "terms.yaml").write_text(POLICY.format(name="terms", days=30))
    (pol / "alias.yaml").symlink_to("real/terms.yaml")
    (pol / "linked-dir").symlink_to("real")
    (pol / "dangling.yaml").symlink_to("/nonexistent.yaml")
    (pol / "loop.yaml").symlink_to("loop.yaml")
    (pol / "loopdir").symlink_to(".")
    return pol


_SKIPPED_LINKS = [("skipped_symlink", "alias.yaml", "real/terms.yaml"),
                  ("skipped_symlink", "dangling.yaml", "/nonexistent.yaml"),
                  ("skipped_symlink", "linked-dir", "real"),
                  ("skipped_symlink", "loop.yaml", "loop.yaml"),
                  ("skipped_symlink", "loopdir", ".")]


def _skipped(source: DirectorySource | GitSource) -> list[tuple[str, str, str]]:
    return sorted((d.code, d.location.file, d.message.split(" ")[3]) for d in source.skipped)


def test_symlinks_are_skipped_and_listed_the_same_on_disk_and_in_git(tmp_path: Path) -> None:
    pol = _links_tree(tmp_path)
    on_disk = DirectorySource(pol)
    assert on_disk.files() == {"real/terms.yaml": POLICY.format(name="terms", days=30).encode()}
    assert _skipped(on_disk) == _SKIPPED_LINKS
    assert all(d.severity == "warning" for d in on_disk.skipped)
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "links")
    at_head = GitSource(tmp_path, "HEAD")
    assert at_head.files() == on_disk.files()
    assert _skipped(at_head) == _SKIPPED_LINKS


def test_a_submodule_is_skipped_and_listed_on_disk_and_in_git(tmp_path: Path) -> None:
    vendor = tmp_path / "vendor-src"
    vendor.mkdir()
    (vendor / "more.yaml").write_text(POLICY.format(name="more", days=10))
    _git(vendor, "init", "-q", "-b", "main")
    _git(vendor, "add", ".")
    _git(vendor, "commit", "-q", "-m", "vendor")
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    (repo / "policies" / "terms.yaml").write_text(POLICY.format(name="terms", days=30))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(vendor),
         "policies/vendor")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "with a submodule")
    for source in (GitSource(repo, "HEAD"), DirectorySource(repo / "policies")):
        assert set(source.files()) == {"terms.yaml"}
        assert [(d.code, d.location.file) for d in source.skipped] == [
            ("skipped_submodule", "vendor")]


def test_a_fifo_is_listed_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")  # reading it would block for ever
    source = DirectorySource(tmp_path)
    assert source.files() == {}
    assert [(d.code, d.location.file) for d in source.skipped] == [
        ("skipped_special_file", "pipe.yaml")]


def test_an_oversized_file_is_not_read_and_keeps_its_size(repo: Path) -> None:
    big = b"# padding\n" * 300_000  # 3,000,000 bytes
    (repo / "policies" / "big.yaml").write_bytes(big)
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "big")
    for source in (DirectorySource(repo / "policies"), GitSource(repo, "HEAD")):
        with pytest.raises(BillplaneError) as info:
            load_from(source)
        (diag,) = info.value.diagnostics
        assert (diag.code, diag.location.file) == ("file_too_large", "big.yaml")
        assert "(3,000,000 bytes)" in diag.message


def test_shown_root_is_relative_to_the_working_directory_when_under_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "policies" / "credit").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert DirectorySource("policies").shown_root == "policies"
    assert DirectorySource(tmp_path / "policies" / "credit").shown_root == "policies/credit"
    assert DirectorySource(".").shown_root == ""
    monkeypatch.chdir(tmp_path / "policies" / "credit")
    assert DirectorySource(tmp_path / "policies").shown_root == str(tmp_path / "policies")

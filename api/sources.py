"""Where policy files come from: a directory, a git revision (read in place) or memory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Protocol

from engine.bundle import Bundle
from engine.errors import BillplaneError, Diagnostic, Location
from engine.loader import load_bundle
from engine.yamldoc import MAX_FILE_BYTES, OversizedFile

POLICY_SUFFIXES = (".yaml", ".yml")


class PolicySource(Protocol):
    """A set of policy files at one revision."""

    revision: str

    def files(self) -> dict[str, bytes]:
        """Policy file contents keyed by POSIX path relative to the policy root."""


def is_policy_path(path: str) -> bool:
    """`*.yaml`/`*.yml`, with no part of the path starting with a dot."""
    parts = PurePosixPath(path).parts
    return path.endswith(POLICY_SUFFIXES) and not any(p.startswith(".") for p in parts)


class DirectorySource:
    """Policy files under a directory on disk; revision is given or empty."""

    def __init__(self, path: str | os.PathLike[str], revision: str = "") -> None:
        self.root = Path(path)
        self.revision = revision

    def files(self) -> dict[str, bytes]:
        if not self.root.is_dir():
            raise BillplaneError(Diagnostic("not_found", "policy directory does not exist",
                                            Location(str(self.root))))
        out: dict[str, bytes] = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                full = Path(dirpath) / name
                rel = full.relative_to(self.root).as_posix()
                if is_policy_path(rel) and full.is_file():
                    size = full.stat().st_size
                    # too big to read: the loader reports file_too_large with the real size
                    out[rel] = OversizedFile(size) if size > MAX_FILE_BYTES else full.read_bytes()
        return out


class MemorySource:
    """Policy files held in memory (tests, API uploads)."""

    def __init__(self, files: dict[str, bytes | str], revision: str = "") -> None:
        self._files = {p: c.encode() if isinstance(c, str) else c for p, c in files.items()}
        self.revision = revision

    def files(self) -> dict[str, bytes]:
        return {p: c for p, c in self._files.items() if is_policy_path(p)}


class GitSource:
    """Policy files at a git revision, read from the object store without a checkout."""

    def __init__(self, repo_path: str | os.PathLike[str], ref: str = "HEAD",
                 subdir: str = "policies") -> None:
        import git  # GitPython: imported here so that other sources do not need it

        try:
            self._repo = git.Repo(repo_path, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise BillplaneError(Diagnostic("not_a_repository", "not inside a git repository",
                                            Location(str(repo_path)))) from None
        try:
            self._commit = self._repo.commit(ref)
        except (git.BadName, ValueError, git.GitCommandError):
            raise BillplaneError(Diagnostic(
                "unknown_revision", f"revision {ref!r} does not exist in this repository",
                Location(str(self._repo.working_dir or repo_path)))) from None
        self.ref = ref
        self.subdir = subdir.strip("/")
        self.revision: str = self._commit.hexsha

    def files(self) -> dict[str, bytes]:
        tree = self._commit.tree
        if self.subdir:
            try:
                tree = tree / self.subdir
            except KeyError:
                raise BillplaneError(Diagnostic(
                    "not_found", f"{self.subdir} does not exist at revision {self.revision[:12]}",
                    Location(self.subdir))) from None
        return dict(self._walk(tree, ""))

    def _walk(self, tree: object, prefix: str) -> Iterator[tuple[str, bytes]]:
        for item in tree:  # type: ignore[attr-defined]
            rel = f"{prefix}{item.name}"
            if item.name.startswith("."):
                continue
            if item.type == "tree":
                yield from self._walk(item, rel + "/")
            elif item.type == "blob" and is_policy_path(rel):
                yield rel, (OversizedFile(item.size) if item.size > MAX_FILE_BYTES
                            else item.data_stream.read())


def load_from(source: PolicySource, backend: str = "cel-expr") -> Bundle:
    """Read a source's files and load them into a bundle stamped with its revision."""
    return load_bundle(source.files(), revision=source.revision, backend=backend)

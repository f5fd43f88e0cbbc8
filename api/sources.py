"""Where policy files come from: a directory, a git revision (read in place) or memory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from engine.bundle import Bundle
from engine.errors import BillplaneError, Diagnostic, Location, excerpt
from engine.loader import load_bundle
from engine.yamldoc import MAX_FILE_BYTES, OversizedFile

POLICY_SUFFIXES = (".yaml", ".yml")


class PolicySource(Protocol):
    """A set of policy files at one revision."""

    revision: str

    def files(self) -> dict[str, bytes]:
        """Policy file contents keyed by POSIX path relative to the policy root."""


def named_commit(repo: Any, ref: str) -> Any:
    """The commit `ref` names in `repo` (a GitPython Repo), read from the object store, or
    None when it names none. GitPython's revision parser fails in many ways on names it
    cannot follow (`@{-1}`: IndexError, `HEAD@{1 year ago}`: NotImplementedError, a tree:
    ValueError), and takes a full SHA on trust: it is found missing only when read."""
    import git

    try:
        commit = repo.commit(ref)
        commit.tree  # noqa: B018 - reading it is the check
    except (ValueError, LookupError, NotImplementedError, TypeError, git.BadName,
            git.BadObject, git.GitCommandError):
        return None
    return commit


def is_policy_path(path: str) -> bool:
    """`*.yaml`/`*.yml`, with no part of the path starting with a dot."""
    parts = PurePosixPath(path).parts
    return path.endswith(POLICY_SUFFIXES) and not any(p.startswith(".") for p in parts)


def _skipped(code: str, message: str, rel: str) -> Diagnostic:
    return Diagnostic(code, message, Location(rel), severity="warning")


def _link(rel: str, target: str) -> Diagnostic:
    # git stores a link as its target's path, a directory walk would follow it: reading
    # neither keeps a directory and its revision the same bundle
    return _skipped("skipped_symlink", f"symbolic link to {excerpt(target)} is not read "
                    "(policies are regular files, on disk and at a git revision alike)", rel)


def _submodule(rel: str) -> Diagnostic:
    return _skipped("skipped_submodule", "git submodule: its files belong to another "
                    "repository and are not read", rel)


def shown_root(path: str | os.PathLike[str]) -> str:
    """A directory as the user can open it: relative to the working directory when under it."""
    full = os.path.abspath(path)
    rel = os.path.relpath(full, os.path.abspath(os.curdir))
    if rel == ".":
        return ""
    return full if rel == ".." or rel.startswith("../") else PurePosixPath(Path(rel)).as_posix()


class DirectorySource:
    """Policy files under a directory on disk; revision is given or empty.

    Symbolic links, nested repositories (submodules) and special files are not read; each is
    listed in `skipped` (warnings) once `files()` has run.
    """

    def __init__(self, path: str | os.PathLike[str], revision: str = "") -> None:
        self.root = Path(path)
        self.revision = revision
        self.shown_root = shown_root(path)
        self.skipped: list[Diagnostic] = []

    def files(self) -> dict[str, bytes]:
        if not self.root.is_dir():
            raise BillplaneError(Diagnostic("not_found", "policy directory does not exist",
                                            Location(str(self.root))))
        self.skipped = []
        out: dict[str, bytes] = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            here = Path(dirpath)
            dirnames[:] = [d for d in sorted(dirnames)
                           if not d.startswith(".") and self._descend(here / d)]
            for name in sorted(filenames):
                full = here / name
                rel = full.relative_to(self.root).as_posix()
                if name.startswith("."):
                    continue
                if full.is_symlink():
                    self.skipped.append(_link(rel, os.readlink(full)))
                elif not is_policy_path(rel):
                    continue
                elif not full.is_file():
                    self.skipped.append(_skipped(
                        "skipped_special_file", "not a regular file; not read", rel))
                else:
                    size = full.stat().st_size
                    # too big to read: the loader reports file_too_large with the real size
                    out[rel] = OversizedFile(size) if size > MAX_FILE_BYTES else full.read_bytes()
        self.skipped.sort(key=Diagnostic.sort_key)
        return out

    def _descend(self, full: Path) -> bool:
        rel = full.relative_to(self.root).as_posix()
        if full.is_symlink():  # a link to a directory: never followed (no loops either)
            self.skipped.append(_link(rel, os.readlink(full)))
            return False
        if (full / ".git").exists():
            self.skipped.append(_submodule(rel))
            return False
        return True


class MemorySource:
    """Policy files held in memory (tests, API uploads)."""

    def __init__(self, files: dict[str, bytes | str], revision: str = "") -> None:
        self._files = {p: c.encode() if isinstance(c, str) else c for p, c in files.items()}
        self.revision = revision
        self.shown_root = ""
        self.skipped: list[Diagnostic] = []

    def files(self) -> dict[str, bytes]:
        return {p: c for p, c in self._files.items() if is_policy_path(p)}


_SYMLINK_MODE = 0o120000
_SUBMODULE_MODE = 0o160000


class GitSource:
    """Policy files at a git revision, read from the object store without a checkout.

    Symbolic links and submodules are not read, as on disk; they are listed in `skipped`.
    """

    def __init__(self, repo_path: str | os.PathLike[str], ref: str = "HEAD",
                 subdir: str = "policies") -> None:
        import git  # GitPython: imported here so that other sources do not need it

        try:
            self._repo = git.Repo(repo_path, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise BillplaneError(Diagnostic("not_a_repository", "not inside a git repository",
                                            Location(str(repo_path)))) from None
        commit = named_commit(self._repo, ref)
        if commit is None:
            raise BillplaneError(Diagnostic(
                "unknown_revision", f"revision {ref!r} does not exist in this repository",
                Location(str(self._repo.working_dir or repo_path))))
        self._commit = commit
        self.ref = ref
        self.subdir = subdir.strip("/")
        self.revision: str = self._commit.hexsha
        self.shown_root = self.subdir  # paths at a revision: relative to the repository root
        self.skipped: list[Diagnostic] = []

    def files(self) -> dict[str, bytes]:
        tree = self._commit.tree
        if self.subdir:
            try:
                tree = tree / self.subdir
            except KeyError:
                raise BillplaneError(Diagnostic(
                    "not_found", f"{self.subdir} does not exist at revision {self.revision[:12]}",
                    Location(self.subdir))) from None
            if tree.type != "tree":
                raise BillplaneError(Diagnostic(
                    "not_found", f"{self.subdir} is not a directory at revision "
                    f"{self.revision[:12]}", Location(self.subdir)))
        self.skipped = []
        found = dict(self._walk(tree, ""))
        self.skipped.sort(key=Diagnostic.sort_key)
        return found

    def _walk(self, tree: Any, prefix: str) -> Iterator[tuple[str, bytes]]:
        for item in tree:
            # a submodule entry has no `name` until it is initialised: use the path
            name = PurePosixPath(item.path).name
            rel = f"{prefix}{name}"
            if name.startswith("."):
                continue
            if item.type == "tree":
                yield from self._walk(item, rel + "/")
            elif item.type == "submodule" or item.mode == _SUBMODULE_MODE:
                self.skipped.append(_submodule(rel))
            elif item.mode == _SYMLINK_MODE:
                target = item.data_stream.read(4096).decode("utf-8", "replace")
                self.skipped.append(_link(rel, target))
            elif item.type == "blob" and is_policy_path(rel):
                yield rel, (OversizedFile(item.size) if item.size > MAX_FILE_BYTES
                            else item.data_stream.read())


def load_from(source: PolicySource, backend: str = "cel-expr") -> Bundle:
    """Read a source's files and load them into a bundle stamped with its revision."""
    return load_bundle(source.files(), revision=source.revision, backend=backend)

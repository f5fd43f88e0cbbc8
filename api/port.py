"""The service's view of the engine and the policy sources, behind one small interface.

The HTTP layer only needs: load a bundle (directory or git revision), resolve a branch head,
run the bundle's PolicyTests, evaluate an order, format a series number. `RealEngine` wires
these to `api.sources`, `engine.evaluate`, `engine.testing` and `engine.series`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import weakref
from pathlib import Path
from typing import Any, Protocol

from engine.bundle import Bundle
from engine.errors import BillplaneError, fail


class InvoiceLike(Protocol):
    """What `engine.evaluate` returns (see docs/invoice.md)."""

    @property
    def document(self) -> dict[str, Any]: ...

    @property
    def blocked(self) -> bool: ...

    def canonical_json(self) -> bytes: ...


class EnginePort(Protocol):
    """Loading, testing and evaluating policies."""

    def load_directory(self, path: Path) -> Bundle: ...

    def load_git(self, repo: Path, ref: str, subdir: str) -> Bundle: ...

    def resolve(self, repo: Path, ref: str) -> str: ...

    def run_tests(self, bundle: Bundle) -> tuple[bool, str]: ...

    def evaluate(self, bundle: Bundle, order: dict[str, Any], as_of: str | None,
                 trace: bool = True) -> InvoiceLike:
        """The invoice of `order`; `trace=False` leaves its trace empty (nothing else
        changes)."""
        ...

    def format_number(self, spec: dict[str, Any], number: int, date: dt.date) -> str: ...


def resolve_ref(repo: Path, ref: str) -> str:
    """The full commit SHA `ref` names in `repo` (BillplaneError unknown_revision)."""
    import git

    from api.sources import named_commit

    try:
        commit = named_commit(git.Repo(repo), ref)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        commit = None
    if commit is None:
        raise fail("unknown_revision", f"no revision {ref!r} in the policy repository")
    return str(commit.hexsha)


def directory_revision(path: Path) -> str:
    """The git SHA of the repository holding `path` (`+dirty` when the tree differs), else
    `dir:<sha256 of the YAML files>`."""
    import git

    try:
        repo = git.Repo(path, search_parent_directories=True)
        sha = str(repo.head.commit.hexsha)
        rel = str(path.resolve().relative_to(Path(repo.working_tree_dir or ".").resolve()))
        dirty = repo.is_dirty(path=rel, untracked_files=True)
        return sha + ("+dirty" if dirty else "")
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        digest = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")):
            digest.update(str(file.relative_to(path)).encode() + b"\0" + file.read_bytes())
        return "dir:" + digest.hexdigest()[:16]


def _prepared(bundle: Bundle) -> Bundle:
    """A loaded bundle, ready to evaluate at full speed from its first request."""
    from engine.context import prepare

    prepare(bundle)
    return bundle


# what `datetime.date(...)` says of a year past 9999 (or before 1)
_YEAR_OUT_OF_RANGE = re.compile(r"year -?[0-9]+ is out of range")


class RealEngine:
    """The engine and sources of this package."""

    def __init__(self, backend: str = "cel-expr") -> None:
        self.backend = backend
        # the policy files of the bundle loaded last, so that its failing PolicyTests name
        # their lines (a bundle is tested right after it is loaded)
        self._files: tuple[weakref.ref[Bundle], dict[str, bytes]] | None = None

    def _loaded(self, bundle: Bundle, files: dict[str, bytes]) -> Bundle:
        self._files = (weakref.ref(bundle), files)
        return _prepared(bundle)

    def load_directory(self, path: Path) -> Bundle:
        from api.sources import DirectorySource
        from engine.loader import load_bundle

        files = DirectorySource(path).files()
        return self._loaded(load_bundle(files, revision=directory_revision(path),
                                        backend=self.backend), files)

    def load_git(self, repo: Path, ref: str, subdir: str) -> Bundle:
        from api.sources import GitSource
        from engine.loader import load_bundle

        source = GitSource(repo, ref, subdir)
        files = source.files()
        return self._loaded(load_bundle(files, revision=source.revision,
                                        backend=self.backend), files)

    def resolve(self, repo: Path, ref: str) -> str:
        return resolve_ref(repo, ref)

    def run_tests(self, bundle: Bundle) -> tuple[bool, str]:
        from engine.testing import run_policy_tests

        held = self._files
        files = held[1] if held is not None and held[0]() is bundle else None
        report = run_policy_tests(bundle, files=files)
        if report.ok:
            return True, ""
        failed = [c for c in getattr(report, "cases", []) if not c.passed]
        names = "; ".join(f"{c.where} {c.name}" for c in failed[:5])
        return False, f"{len(failed)} case(s) failed: {names}"

    def evaluate(self, bundle: Bundle, order: dict[str, Any], as_of: str | None,
                 trace: bool = True) -> InvoiceLike:
        from engine.errors import Diagnostic, Location
        from engine.evaluate import evaluate

        try:
            result: InvoiceLike = evaluate(bundle, order, as_of=as_of, trace=trace)
        except (OverflowError, ValueError) as exc:
            # date arithmetic on the order's dates (terms, windows, schedules) passed the
            # last representable day: a property of the input, not a server fault. Adding
            # days overflows; building a date (a month added to a period) is a ValueError
            # in Python's own words, and any other ValueError stays a fault
            if isinstance(exc, ValueError) and not _YEAR_OUT_OF_RANGE.fullmatch(str(exc)):
                raise
            raise BillplaneError(Diagnostic(
                "date_out_of_range", "a date computed from the order falls after 9999-12-31",
                Location("order"))) from None
        return result

    def format_number(self, spec: dict[str, Any], number: int, date: dt.date) -> str:
        from engine.series import format_number

        return str(format_number(spec, number, date))

"""What a policy revision's commit says: author, date, subject and the approvals recorded in
its trailers (`Approved-by:`, `Reviewed-by:`), as the policy history shows them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

APPROVAL_TRAILERS = ("approved-by", "reviewed-by")


@dataclass(frozen=True)
class CommitInfo:
    """One commit's metadata; `approvals` are {"trailer", "by"} in commit order."""

    sha: str
    author: str = ""
    committed_at: dt.datetime | None = None
    subject: str = ""
    approvals: list[dict[str, str]] = field(default_factory=list)


def commit_info(repo: Path, sha: str) -> CommitInfo | None:
    """The metadata of commit `sha` in the repository at (or above) `repo`; None when there
    is no such repository or commit."""
    import git

    try:
        commit = git.Repo(repo, search_parent_directories=True).commit(sha)
    except (ValueError, git.BadName, git.GitCommandError, git.InvalidGitRepositoryError,
            git.NoSuchPathError):
        return None
    return CommitInfo(
        sha=str(commit.hexsha),
        author=f"{commit.author.name} <{commit.author.email}>"[:300],
        committed_at=commit.committed_datetime.astimezone(dt.UTC),
        subject=str(commit.summary)[:500],
        approvals=approvals_of(_trailers(commit)),
    )


def _trailers(commit: Any) -> list[tuple[str, str]]:
    try:
        return [(str(k), str(v)) for k, v in commit.trailers_list]
    except Exception:  # noqa: BLE001 - a commit whose trailers git cannot parse has none
        return []


def approvals_of(trailers: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The approval trailers among a commit's trailers."""
    return [{"trailer": key, "by": value[:300]} for key, value in trailers
            if key.lower() in APPROVAL_TRAILERS]

"""The active policy revision of this process, and following a branch of the policy repository.

A revision activates whole or not at all: the bundle must load and its PolicyTests pass.
Otherwise the last good revision keeps serving and the refusal is reported (readyz, metric,
audit). The active revision is a fact in the store (api.policy_store) that every server
process follows within `policy_sync_seconds`. Requests take a reference to the active bundle
when they start, so a swap never changes a request in flight: an issued invoice is stamped
with the revision it was evaluated with.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api import policy_store
from api.commits import commit_info
from api.db import Database
from api.metrics import Metrics
from api.port import EnginePort
from api.settings import Settings
from engine.bundle import Bundle
from engine.errors import BillplaneError, Diagnostic

log = logging.getLogger("billplane.api")
# how a directory revision with uncommitted changes is marked (api.port.directory_revision)
DIRTY = "+dirty"


@dataclass(frozen=True)
class Active:
    """The bundle being served, where it came from, and its activation in the store."""

    bundle: Bundle
    activated_at: dt.datetime
    source: str
    activation_id: int | None = None

    @property
    def revision(self) -> str:
        return self.bundle.revision

    @property
    def dirty(self) -> bool:
        """Served from a working tree with uncommitted changes."""
        return self.bundle.revision.endswith(DIRTY)


@dataclass(frozen=True)
class Refusal:
    """A revision that was not activated, and why."""

    revision: str
    reason: str
    at: dt.datetime


class PolicyState:
    """This process's view of the active revision, which the store decides (api.policy_store).

    `current()` checks the stored state at most every `policy_sync_seconds` (one small query,
    taken by one request while the others go on with the bundle they hold) and loads the
    stored revision when another process activated it. Activation and refusal are written to
    the store first and adopted here after.
    """

    def __init__(self, settings: Settings, port: EnginePort, db: Database,
                 metrics: Metrics) -> None:
        self.settings = settings
        self.port = port
        self.db = db
        self.metrics = metrics
        self.active: Active | None = None
        self.refused: Refusal | None = None
        # why this process does not serve the stored revision ("" when it does)
        self.out_of_sync = ""
        self.last_head = ""
        self._lock = threading.RLock()
        self._sync_lock = threading.Lock()
        self._next_sync = 0.0
        self._sandbox: OrderedDict[str, Bundle] = OrderedDict()

    # -- where revisions come from ---------------------------------------------------
    @property
    def repo(self) -> Path | None:
        return self.settings.repo

    def source_label(self, revision: str) -> str:
        if self.repo is not None:
            return f"git:{self.repo}@{revision}:{self.settings.subdir}"
        return f"dir:{self.settings.policies}"

    def current(self) -> Active | None:
        """The active revision (a reference: later swaps do not affect the caller)."""
        self.sync()
        return self.active

    # -- following the store ---------------------------------------------------------------
    def sync_due(self) -> bool:
        """True when the next `current()` would read the store."""
        return time.monotonic() >= self._next_sync

    def sync(self, force: bool = False) -> None:
        """Adopt the stored state when it is due to be checked (or `force`)."""
        now = time.monotonic()
        if not force and now < self._next_sync:
            return
        if not self._sync_lock.acquire(blocking=False):
            return
        try:
            self._next_sync = now + self.settings.policy_sync_seconds
            self._follow(policy_store.read(self.db))
        except Exception as exc:  # noqa: BLE001 - keep serving what is held; retried later
            log.error("policy sync failed: %s", type(exc).__name__)
        finally:
            self._sync_lock.release()

    def _follow(self, stored: policy_store.Stored) -> None:
        self._note_refusal(stored)
        if stored.activation_id is None or stored.activated_at is None:
            return
        held = self.active
        if held is not None and (held.activation_id or 0) >= stored.activation_id:
            return
        if held is not None and (held.revision, held.bundle.digest) == (stored.revision,
                                                                         stored.digest):
            self._serve(held.bundle, stored)
            return
        if stored.revision.endswith(DIRTY) and not self.settings.allow_dirty:
            self._out_of_sync(stored, "has uncommitted changes (serve with --allow-dirty)")
            return
        try:
            bundle = self._load_stored(stored)
        except BillplaneError as exc:
            self._out_of_sync(stored, f"does not load here: {exc}")
            return
        if (bundle.revision, bundle.digest) != (stored.revision, stored.digest):
            if self.repo is None:
                self._out_of_sync(stored, (
                    f"is not what the policy directory holds ({bundle.revision}, digest "
                    f"{bundle.digest}): check out {stored.revision}, or activate what the "
                    "directory holds once it checks and its PolicyTests pass"))
            else:
                self._out_of_sync(stored, f"loads here as {bundle.revision} digest {bundle.digest}")
            return
        self._serve(bundle, stored)

    def _load_stored(self, stored: policy_store.Stored) -> Bundle:
        if self.repo is not None:
            return self.port.load_git(self.repo, stored.revision, self.settings.subdir)
        if self.settings.policies is None:
            raise BillplaneError(_diag("activation_unavailable", "no policy source"))
        return self.port.load_directory(self.settings.policies)

    def _out_of_sync(self, stored: policy_store.Stored, why: str) -> None:
        reason = f"the store's active revision {stored.revision} {why}"[:2000]
        if reason != self.out_of_sync:
            log.warning("cannot serve the stored policy revision %s", stored.revision)
        self.out_of_sync = reason

    def _serve(self, bundle: Bundle, stored: policy_store.Stored) -> None:
        with self._lock:
            held = self.active
            if held is not None and (held.activation_id or 0) > (stored.activation_id or 0):
                return  # this process already serves something newer
            assert stored.activated_at is not None
            self.active = Active(bundle, stored.activated_at, stored.source,
                                 stored.activation_id)
            self.out_of_sync = ""
            self._note_refusal(stored)
        if held is None or held.revision != bundle.revision:
            self.metrics.set_active(bundle.revision, bundle.digest)
            log.info("serving policy revision %s", bundle.revision)

    def _note_refusal(self, stored: policy_store.Stored) -> None:
        self.refused = (Refusal(stored.refused_revision, stored.refused_reason,
                                stored.refused_at)
                        if stored.refused_revision and stored.refused_at else None)

    # -- activation --------------------------------------------------------------------
    def try_activate(self, bundle_loader: Any, revision: str, actor: str, reason: str,
                     head: str | None = None) -> Active:
        """Load with `bundle_loader()`, run its PolicyTests, activate; else refuse."""
        with self._lock:
            try:
                bundle = bundle_loader()
            except BillplaneError as exc:
                self._refuse(revision, f"does not load: {exc}", actor, head)
                raise
            if bundle.revision.endswith(DIRTY) and not self.settings.allow_dirty:
                why = ("the policy directory has uncommitted changes (commit them, or serve"
                       " with --allow-dirty)")
                self._refuse(bundle.revision, why, actor, head)
                raise BillplaneError(_diag("dirty_tree", why))
            ok, why = self.port.run_tests(bundle)
            if not ok:
                self._refuse(bundle.revision, f"PolicyTests fail: {why}", actor, head)
                raise BillplaneError(
                    [*_diag("activation_refused", f"PolicyTests fail: {why}")])
            stored = policy_store.activate(self.db, self._candidate(bundle), actor, reason,
                                           self.settings.clock(), head)
            self._serve(bundle, stored)
            assert self.active is not None
            return self.active

    def _candidate(self, bundle: Bundle) -> policy_store.Candidate:
        sha = bundle.revision.removesuffix(DIRTY)
        where = self.repo if self.repo is not None else self.settings.policies
        commit = commit_info(where, sha) if where is not None and _is_sha(sha) else None
        return policy_store.Candidate(bundle.revision, bundle.digest,
                                      self.source_label(bundle.revision),
                                      bundle.revision.endswith(DIRTY), commit)

    def _refuse(self, revision: str, reason: str, actor: str, head: str | None = None) -> None:
        stored = policy_store.refuse(self.db, revision, reason[:2000], actor,
                                     self.settings.clock(), head)
        self._note_refusal(stored)
        self.metrics.activation_refused.inc()
        log.warning("refused policy revision %s", revision)

    def activate_revision(self, ref: str, actor: str, reason: str) -> Active:
        """Activate a revision (admin request): a git revision of the followed repository, or
        in directory mode the revision the directory holds, named exactly."""
        repo = self.repo
        if repo is None:
            path = self.settings.policies
            if path is None:
                raise BillplaneError(_diag("activation_unavailable", "no policy source"))
            bundle = self.port.load_directory(path)
            _check_names(ref, bundle.revision, path)
            return self.try_activate(lambda: bundle, bundle.revision, actor, reason)
        sha = self.port.resolve(repo, ref)
        return self.try_activate(lambda: self.port.load_git(repo, sha, self.settings.subdir),
                                 sha, actor, reason)

    def start(self) -> None:
        """First activation at start-up. What the store serves is kept when the source has
        nothing new (no history row for a restart); a new branch head or directory content
        is checked and activated; a refused head leaves the stored revision serving."""
        stored = policy_store.read(self.db)
        try:
            if self.repo is not None:
                self._start_following(stored)
            elif self.settings.policies is not None:
                path = self.settings.policies
                bundle = self.port.load_directory(path)
                same = (bundle.revision, bundle.digest) == (stored.revision, stored.digest)
                if same and (self.settings.allow_dirty or not bundle.revision.endswith(DIRTY)):
                    self._serve(bundle, stored)
                else:
                    self.try_activate(lambda: bundle, bundle.revision, "system", "start-up")
        except BillplaneError:
            log.error("no policy revision could be activated at start-up")
        if self.active is None and stored.activation_id is not None and self.repo is not None:
            # the last good revision, while the head is refused
            self._follow(policy_store.read(self.db))
            if self.active is not None:
                log.warning("serving the last good policy revision %s", stored.revision)

    def _start_following(self, stored: policy_store.Stored) -> None:
        repo = self.repo
        assert repo is not None
        head = self.port.resolve(repo, self.settings.branch)
        if stored.activation_id is not None and head in (stored.head, stored.revision):
            self.last_head = head
            self._follow(stored)
            if self.active is not None:
                return
        self.poll("system")

    def poll(self, actor: str = "follower") -> dict[str, Any]:
        """Check the followed branch once; activate a new head that loads and passes."""
        repo = self.repo
        if repo is None:
            return {"head": "", "changed": False, "activated": False}
        head = self.port.resolve(repo, self.settings.branch)
        if head == self.last_head:
            self.sync()
            return {"head": head, "changed": False, "activated": False}
        self.last_head = head
        stored = policy_store.read(self.db)
        if head in (stored.head, stored.revision) and stored.activation_id is not None:
            # another process of this store looked at this head already
            self._follow(stored)
            activated = stored.revision == head
            out: dict[str, Any] = {"head": head, "changed": True, "activated": activated}
            if not activated and stored.refused_revision == head:
                out["reason"] = stored.refused_reason
            return out
        try:
            self.try_activate(lambda: self.port.load_git(repo, head, self.settings.subdir),
                              head, actor, f"new head of {self.settings.branch}", head=head)
        except BillplaneError as exc:
            return {"head": head, "changed": True, "activated": False, "reason": str(exc)}
        return {"head": head, "changed": True, "activated": True}

    # -- sandbox evaluation of other revisions --------------------------------------------
    def sandbox_bundle(self, ref: str) -> Bundle:
        """The bundle at `ref` of the followed repository (a few kept in memory)."""
        repo = self.repo
        if repo is None:
            raise BillplaneError(_diag("activation_unavailable",
                                       "no policy repository is followed"))
        sha = self.port.resolve(repo, ref)
        with self._lock:
            if sha in self._sandbox:
                self._sandbox.move_to_end(sha)
                return self._sandbox[sha]
        bundle = self.port.load_git(repo, sha, self.settings.subdir)
        with self._lock:
            self._sandbox[sha] = bundle
            while len(self._sandbox) > 8:
                self._sandbox.popitem(last=False)
        return bundle


def _diag(code: str, message: str) -> list[Any]:
    return [Diagnostic(code, message)]


def _is_sha(text: str) -> bool:
    return len(text) == 40 and all(c in "0123456789abcdef" for c in text)


def _check_names(ref: str, revision: str, path: Path) -> None:
    """Directory mode: `ref` must name what the directory holds: that revision exactly, or
    a git name of its commit (then the dirty check still applies)."""
    if ref == revision:
        return
    sha = revision.removesuffix(DIRTY)
    if _is_sha(sha):
        import git

        from api.sources import named_commit

        try:
            commit = named_commit(git.Repo(path, search_parent_directories=True), ref)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            commit = None
        if commit is None:
            raise BillplaneError(_diag("unknown_revision", f"no revision {ref!r} in the "
                                       "repository of the policy directory"))
        if str(commit.hexsha) == sha:
            return
    raise BillplaneError(_diag("revision_mismatch", f"the policy directory holds revision "
                               f"{revision}, not {ref!r}; in directory mode only what the "
                               "directory holds can be activated"))


class Follower(threading.Thread):
    """Polls the followed branch every `poll_interval` seconds (the webhook polls now)."""

    def __init__(self, state: PolicyState, interval: float) -> None:
        super().__init__(name="billplane-follower", daemon=True)
        self.state = state
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.state.poll()
            except Exception as exc:  # noqa: BLE001 - the follower must survive a bad poll
                log.error("policy poll failed: %s", type(exc).__name__)

    def stop(self) -> None:
        self.stopped.set()

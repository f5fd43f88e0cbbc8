"""The active policy revision, its history, and following a branch of the policy repository.

A revision activates whole or not at all: the bundle must load and its PolicyTests pass.
Otherwise the last good revision keeps serving and the refusal is reported (readyz, metric,
audit). Requests take a reference to the active bundle when they start, so a swap never
changes a request in flight.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api import audit
from api.db import Database
from api.metrics import Metrics
from api.port import EnginePort
from api.settings import Settings
from api.tables import PolicyActivation
from engine.bundle import Bundle
from engine.errors import BillplaneError

log = logging.getLogger("billplane.api")


@dataclass(frozen=True)
class Active:
    """The bundle being served and where it came from."""

    bundle: Bundle
    activated_at: dt.datetime
    source: str

    @property
    def revision(self) -> str:
        return self.bundle.revision


@dataclass(frozen=True)
class Refusal:
    """A revision that was not activated, and why."""

    revision: str
    reason: str
    at: dt.datetime


class PolicyState:
    """Holds the active revision; loads, tests and activates candidates."""

    def __init__(self, settings: Settings, port: EnginePort, db: Database,
                 metrics: Metrics) -> None:
        self.settings = settings
        self.port = port
        self.db = db
        self.metrics = metrics
        self.active: Active | None = None
        self.refused: Refusal | None = None
        self.last_head = ""
        self._lock = threading.Lock()
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
        return self.active

    # -- activation --------------------------------------------------------------------
    def try_activate(self, bundle_loader: Any, revision: str, actor: str, reason: str) -> Active:
        """Load with `bundle_loader()`, run its PolicyTests, activate; else refuse."""
        with self._lock:
            try:
                bundle = bundle_loader()
            except BillplaneError as exc:
                self._refuse(revision, f"does not load: {exc}", actor)
                raise
            ok, why = self.port.run_tests(bundle)
            if not ok:
                self._refuse(bundle.revision, f"PolicyTests fail: {why}", actor)
                raise BillplaneError(
                    [*_diag("activation_refused", f"PolicyTests fail: {why}")])
            before = self.active.bundle.digest if self.active else ""
            now = self.settings.clock()
            active = Active(bundle, now, self.source_label(bundle.revision))
            with self.db.write() as s:
                s.add(PolicyActivation(revision=bundle.revision, digest=bundle.digest,
                                       activated_at=now, actor=actor, source=active.source))
                audit.record(s, now, actor, "activation", bundle.revision, reason,
                             before, bundle.digest)
            self.active = active
            if self.refused and self.refused.revision == bundle.revision:
                self.refused = None
            self.metrics.set_active(bundle.revision, bundle.digest)
            log.info("activated policy revision %s", bundle.revision)
            return active

    def _refuse(self, revision: str, reason: str, actor: str) -> None:
        now = self.settings.clock()
        self.refused = Refusal(revision, reason[:2000], now)
        self.metrics.activation_refused.inc()
        before = self.active.bundle.digest if self.active else ""
        with self.db.write() as s:
            audit.record(s, now, actor, "activation_refused", revision, reason[:2000], before,
                         before)
        log.warning("refused policy revision %s", revision)

    def activate_revision(self, ref: str, actor: str, reason: str) -> Active:
        """Activate a git revision of the followed repository (admin request)."""
        repo = self.repo
        if repo is None:
            if self.settings.policies is None:
                raise BillplaneError(_diag("activation_unavailable", "no policy source"))
            return self.try_activate(lambda: self.port.load_directory(self.settings.policies),
                                     ref, actor, reason)
        sha = self.port.resolve(repo, ref)
        return self.try_activate(lambda: self.port.load_git(repo, sha, self.settings.subdir),
                                 sha, actor, reason)

    def start(self) -> None:
        """First activation at start-up: the branch head, or the policies directory."""
        try:
            if self.repo is not None:
                self.poll("system")
            elif self.settings.policies is not None:
                path = self.settings.policies
                self.try_activate(lambda: self.port.load_directory(path), str(path), "system",
                                  "start-up")
        except BillplaneError:
            log.error("no policy revision could be activated at start-up")

    def poll(self, actor: str = "follower") -> dict[str, Any]:
        """Check the followed branch once; activate a new head that loads and passes."""
        repo = self.repo
        if repo is None:
            return {"head": "", "changed": False, "activated": False}
        head = self.port.resolve(repo, self.settings.branch)
        if head == self.last_head:
            return {"head": head, "changed": False, "activated": False}
        self.last_head = head
        try:
            self.try_activate(lambda: self.port.load_git(repo, head, self.settings.subdir),
                              head, actor, f"new head of {self.settings.branch}")
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
    from engine.errors import Diagnostic

    return [Diagnostic(code, message)]


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

"""The app under test: a fresh store, the stand-in engine (or the real one over the example
policies), a settable clock and one key per role. Fixtures in conftest.py build it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api_fakes import Clock, FakeEngine

POLICIES = Path(__file__).resolve().parents[2] / "policies"


class Service:
    """An app on a fresh store with the stand-in engine (or `port`), a settable clock and one
    key a role."""

    def __init__(self, database_url: str, port: Any = None, **settings: Any) -> None:
        from fastapi.testclient import TestClient

        from api.app import create_app
        from api.auth import create_key
        from api.settings import Settings

        self.clock = Clock()
        after_allocate = settings.pop("after_allocate", None)
        settings.setdefault("policies", Path("unused"))
        self.settings = Settings(database_url=database_url, clock=self.clock, **settings)
        self.app = create_app(self.settings, port=port or FakeEngine(),
                              after_allocate=after_allocate)
        self.svc = self.app.state.services
        # entered once: one event loop for all requests instead of one each
        self._client = TestClient(self.app)
        self.client = self._client.__enter__()
        self.keys: dict[str, str] = {}
        with self.svc.db.write() as s:
            for role in ("billing", "auditor", "approver", "admin"):
                self.keys[role] = create_key(s, self.settings, role, role, "test")[1]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"} if role in self.keys else {}

    def close(self) -> None:
        self._client.__exit__(None, None, None)
        self.svc.db.dispose()


def real_service(database_url: str, tmp_path: Path, **settings: Any) -> Service:
    """The app over the real engine and a copy of the example policies (not in a git tree)."""
    import shutil

    from api.port import RealEngine

    policies = tmp_path / "example-policies"
    if not policies.exists():
        shutil.copytree(POLICIES, policies)
    return Service(database_url, port=RealEngine(), policies=policies, **settings)

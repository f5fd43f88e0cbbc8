"""API keys: stored hashed, shown once, revocable; the `keys` command and the bootstrap key."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pytest
from api_service import Service
from sqlmodel import select

from api.cli import cmd_keys
from api.tables import ApiKey


def test_created_key_works_once_shown_and_revocation_is_immediate(
        sqlite_service: Service) -> None:
    s = sqlite_service
    r = s.client.post("/v1/keys", json={"role": "auditor", "name": "ops"},
                      headers=s.auth("admin"))
    assert r.status_code == 201
    token, prefix = r.json()["key"], r.json()["prefix"]
    with s.svc.db.read() as db:
        row = db.exec(select(ApiKey).where(ApiKey.prefix == prefix)).one()
    assert row.hash == hashlib.sha256(token.encode()).hexdigest()
    listed = s.client.get("/v1/keys", headers=s.auth("admin")).text
    assert token not in listed and row.hash not in listed
    h = {"Authorization": f"Bearer {token}"}
    assert s.client.get("/v1/audit", headers=h).status_code == 200
    r = s.client.delete(f"/v1/keys/{prefix}", headers=s.auth("admin"))
    assert r.status_code == 422 and r.json()["details"][0]["loc"] == ["query", "reason"]
    r = s.client.delete(f"/v1/keys/{prefix}", params={"reason": "rotated"},
                        headers=s.auth("admin"))
    assert r.status_code == 200
    r = s.client.get("/v1/audit", headers=h)
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    log = s.client.get("/v1/audit", headers=s.auth("admin")).json()["items"]
    actions = [e["action"] for e in log]
    assert actions.count("key_created") == 5 and actions.count("key_revoked") == 1
    revoked = next(e for e in log if e["action"] == "key_revoked")
    assert revoked["reason"] == "rotated"
    assert revoked["before_digest"] and revoked["before_digest"] != revoked["after_digest"]
    # digests of a key's public state: the stored hash appears nowhere in the log
    assert row.hash not in s.client.get("/v1/audit", headers=s.auth("admin")).text


def test_the_last_admin_key_cannot_be_revoked(sqlite_service: Service) -> None:
    s = sqlite_service
    prefix = s.keys["admin"].split("_")[1]
    r = s.client.delete(f"/v1/keys/{prefix}", params={"reason": "leaving"},
                        headers=s.auth("admin"))
    assert (r.status_code, r.json()["code"]) == (409, "last_admin_key")
    second = s.client.post("/v1/keys", json={"role": "admin", "name": "successor"},
                           headers=s.auth("admin")).json()["key"]
    r = s.client.delete(f"/v1/keys/{prefix}", params={"reason": "leaving"},
                        headers=s.auth("admin"))
    assert r.status_code == 200
    assert s.client.get("/v1/keys", headers={"Authorization": f"Bearer {second}"}
                        ).status_code == 200


def test_wrong_secret_with_a_known_prefix_is_refused(sqlite_service: Service) -> None:
    s = sqlite_service
    prefix = s.keys["admin"].split("_")[1]
    r = s.client.get("/v1/keys", headers={"Authorization": f"Bearer bpk_{prefix}_guess"})
    assert r.status_code == 401


def test_keys_command_creates_lists_and_revokes(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    parser = argparse.ArgumentParser()
    cmd_keys.add_arguments(parser)
    assert cmd_keys.run(parser.parse_args(["create", "--role", "admin",
                                           "--database-url", url])) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("bpk_")
    prefix = token.split("_")[1]
    assert cmd_keys.run(parser.parse_args(["list", "--database-url", url])) == 0
    assert capsys.readouterr().out.split("\t")[:3] == [prefix, "admin", "active"]
    assert cmd_keys.run(parser.parse_args(["create", "--role", "admin",
                                           "--database-url", url])) == 0
    assert cmd_keys.run(parser.parse_args(["revoke", prefix, "--database-url", url])) == 2
    assert cmd_keys.run(parser.parse_args(["revoke", prefix, "--reason", "rotated",
                                           "--database-url", url])) == 0
    capsys.readouterr()
    cmd_keys.run(parser.parse_args(["list", "--database-url", url]))
    assert "\trevoked\t" in capsys.readouterr().out


def test_bootstrap_admin_key_only_into_an_empty_store(tmp_path: Path) -> None:
    from api_fakes import FakeEngine
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    token = "bpk_boot0001_" + "s" * 40
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'b.db'}", policies=tmp_path,
                        bootstrap_admin_key=token)
    app = create_app(settings, port=FakeEngine())
    client = TestClient(app)
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/keys", headers=auth).status_code == 200
    client.post("/v1/keys", json={"role": "admin", "name": "real admin"}, headers=auth)
    r = client.delete("/v1/keys/boot0001", params={"reason": "bootstrap done"}, headers=auth)
    assert r.status_code == 200
    app.state.services.db.dispose()
    # a restart with the same variable does not bring a revoked key back
    app2 = create_app(settings, port=FakeEngine())
    r = TestClient(app2).get("/v1/keys", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    app2.state.services.db.dispose()


GOOD_BOOTSTRAP_KEYS = [
    pytest.param("bpk_boot0001_" + "s" * 40, id="fixture"),
    pytest.param("bpk_abc_" + "a" * 32, id="shortest-secret"),
    pytest.param("bpk_" + "P" * 32 + "_x-y_z" + "0" * 30, id="longest-prefix-and-url-safe"),
]
WEAK_BOOTSTRAP_KEYS = [
    # (key, what the error says)
    pytest.param("bpk_x_y", "too short a secret", id="one-character-secret"),
    pytest.param("bpk_x_" + "q" * 31, "too short a secret", id="31-characters"),
    pytest.param("bpk_x_", "must look like", id="no-secret"),
    pytest.param("bpk__" + "q" * 40, "prefix", id="empty-prefix"),
    pytest.param("bpk_" + "P" * 33 + "_" + "q" * 40, "prefix", id="prefix-too-long"),
    pytest.param("bpk_ab-c_" + "q" * 40, "prefix", id="prefix-not-alphanumeric"),
    pytest.param("bpk_abc_" + "q" * 39 + "!", "letters, digits", id="secret-not-url-safe"),
    pytest.param("bpk_abc_" + "q" * 20 + " " + "q" * 20, "letters, digits", id="secret-space"),
    pytest.param("xyz_abc_" + "q" * 40, "must look like", id="wrong-scheme"),
    pytest.param("q" * 60, "must look like", id="no-parts"),
]


def test_generated_keys_have_the_bootstrap_form() -> None:
    from api.auth import new_token, token_problem

    for _ in range(200):
        assert token_problem(new_token()[1]) is None


@pytest.mark.parametrize("token", [*GOOD_BOOTSTRAP_KEYS,
                                   pytest.param("served", id="served-test-key")])
def test_a_strong_bootstrap_key_is_stored(token: str, tmp_path: Path) -> None:
    from api_fakes import FakeEngine
    from fastapi.testclient import TestClient
    from served import ADMIN_KEY

    from api.app import create_app
    from api.settings import Settings

    token = ADMIN_KEY if token == "served" else token
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'b.db'}", policies=tmp_path,
                        bootstrap_admin_key=token)
    app = create_app(settings, port=FakeEngine())
    try:
        r = TestClient(app).get("/v1/keys", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert [(k["prefix"], k["role"]) for k in r.json()["items"]] == [
            (token.split("_")[1], "admin")]
    finally:
        app.state.services.db.dispose()


@pytest.mark.parametrize(("token", "says"), WEAK_BOOTSTRAP_KEYS)
def test_a_weak_bootstrap_key_stops_the_service(token: str, says: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from api.cli import cmd_serve

    db = tmp_path / "w.db"
    monkeypatch.setenv("BILLPLANE_BOOTSTRAP_ADMIN_KEY", token)
    monkeypatch.setenv("BILLPLANE_DATABASE_URL", f"sqlite:///{db}")
    parser = argparse.ArgumentParser()
    cmd_serve.add_arguments(parser)
    args = parser.parse_args(["--policies", str(tmp_path)])
    started: list[object] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: started.append(a))
    assert cmd_serve.run(args) == 2
    err = capsys.readouterr().err
    assert started == []
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("billplane serve: BILLPLANE_BOOTSTRAP_ADMIN_KEY ")
    assert says in err
    secret = token.split("_", 2)[-1]
    assert token not in err and (len(secret) < 8 or secret not in err)
    assert not db.exists()  # refused before a store was created


def test_create_key_refuses_a_weak_given_token(sqlite_service: Service) -> None:
    from api.auth import create_key
    from api.errors import ApiError

    with pytest.raises(ApiError) as err, sqlite_service.svc.db.write() as s:
        create_key(s, sqlite_service.settings, "admin", "weak", "test", token="bpk_x_y")
    assert err.value.code == "invalid_key_format"
    assert "too short a secret" in err.value.message


def test_a_key_revoked_while_it_is_being_verified_is_not_cached(
        sqlite_service: Service) -> None:
    """A verification that read the key's row just before it was revoked must not put the
    key in the cache after the revocation forgot it: revocation in this process is
    immediate, whatever was in flight."""
    from contextlib import contextmanager

    s = sqlite_service
    ring = s.svc.keys
    token = s.client.post("/v1/keys", json={"role": "auditor"},
                          headers=s.auth("admin")).json()["key"]
    prefix = token.split("_")[1]
    real = ring.db

    class RevokedAfterTheRead:
        """The store, where the key is revoked (and forgotten) right after it was read."""

        @contextmanager
        def read(self):  # type: ignore[no-untyped-def]
            with real.read() as session:
                yield session
            r = s.client.delete(f"/v1/keys/{prefix}", params={"reason": "leaked"},
                                headers=s.auth("admin"))
            assert r.status_code == 200

    ring.db = RevokedAfterTheRead()  # type: ignore[assignment]
    try:
        ring.verify(f"Bearer {token}")  # in flight: it read the row before the revocation
    finally:
        ring.db = real
    assert ring.cached(f"Bearer {token}") is None
    r = s.client.get("/v1/audit", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401

"""API keys: stored hashed, shown once, revocable; the `keys` command and the bootstrap key."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pytest
from conftest import Service
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

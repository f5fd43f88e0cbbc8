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
    assert s.client.delete(f"/v1/keys/{prefix}", headers=s.auth("admin")).status_code == 200
    r = s.client.get("/v1/audit", headers=h)
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    actions = [e["action"] for e in s.client.get("/v1/audit",
                                                 headers=s.auth("admin")).json()["items"]]
    assert actions.count("key_created") == 4 and actions.count("key_revoked") == 1


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
    assert cmd_keys.run(parser.parse_args(["revoke", prefix, "--database-url", url])) == 0
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
    assert client.get("/v1/keys", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    client.delete("/v1/keys/boot0001", headers={"Authorization": f"Bearer {token}"})
    app.state.services.db.dispose()
    # a restart with the same variable does not bring a revoked key back
    app2 = create_app(settings, port=FakeEngine())
    r = TestClient(app2).get("/v1/keys", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    app2.state.services.db.dispose()

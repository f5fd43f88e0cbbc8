"""Idempotency keys: Stripe's contract, including 50 concurrent requests with one key."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from api_fakes import ISSUED_AT, issue_action, issued_seqs, order
from api_service import Service

from api import idempotency
from api.db import Database
from api.errors import ApiError
from engine.errors import BillplaneError, Diagnostic

ISSUE = "/v1/invoices"


def test_same_key_same_body_replays_status_and_body(service: Service) -> None:
    h = {**service.auth("billing"), "Idempotency-Key": "k-1"}
    first = service.client.post(ISSUE, json={"order": order(1)}, headers=h)
    again = service.client.post(ISSUE, json={"order": order(1)}, headers=h)
    assert first.status_code == again.status_code == 201
    assert first.content == again.content
    assert again.headers["Idempotent-Replayed"] == "true"
    listing = service.client.get(ISSUE, headers=service.auth("billing")).json()
    assert len(listing["items"]) == 1


def test_a_replay_is_the_response_as_first_sent(service: Service) -> None:
    h = {**service.auth("billing"), "Idempotency-Key": "k-then-void"}
    first = service.client.post(ISSUE, json={"order": order(1)}, headers=h)
    number = first.json()["number"]
    voided = service.client.post(f"{ISSUE}/{number}/void", json={"reason": "duplicate"},
                                 headers=service.auth("billing"))
    assert voided.status_code == 200, voided.text
    again = service.client.post(ISSUE, json={"order": order(1)}, headers=h)
    # the response as it was sent, not the invoice as it is now (voided)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content and again.json()["status"] == "issued"
    now = service.client.get(f"{ISSUE}/{number}", headers=service.auth("billing")).json()
    assert now["status"] == "voided"


def test_a_retry_gets_its_first_answer_even_when_it_could_not_be_issued_now(
        service: Service, monkeypatch: Any) -> None:
    h = {**service.auth("billing"), "Idempotency-Key": "k-then"}
    first = service.client.post(ISSUE, json={"order": order(1)}, headers=h)
    assert first.status_code == 201

    def refuses(*args: Any, **kwargs: Any) -> Any:
        raise BillplaneError(Diagnostic("invalid_order", "refused by today's policy"))

    # the policy changed since: the same order would now be refused
    monkeypatch.setattr(service.svc.port, "evaluate", refuses)
    again = service.client.post(ISSUE, json={"order": order(1)}, headers=h)
    assert (again.status_code, again.content) == (201, first.content)
    assert again.headers["Idempotent-Replayed"] == "true"
    other = service.client.post(ISSUE, json={"order": order(2)}, headers=h)
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_conflict")
    new = service.client.post(ISSUE, json={"order": order(2)},
                              headers={**h, "Idempotency-Key": "k-new"})
    assert (new.status_code, new.json()["code"]) == (422, "invalid_order")

    def store_down(*args: Any, **kwargs: Any) -> Any:
        raise OSError("the store cannot be reached")

    # a store that cannot say whether the key was answered leaves the refusal as it is
    monkeypatch.setattr(idempotency, "lookup", store_down)
    new = service.client.post(ISSUE, json={"order": order(2)},
                              headers={**h, "Idempotency-Key": "k-new"})
    assert (new.status_code, new.json()["code"]) == (422, "invalid_order")


def test_a_clock_in_another_zone_stores_and_replays_the_same_instant(service: Service
                                                                     ) -> None:
    service.clock.now = dt.datetime(2026, 3, 16, 11, 0, 0, 120000,
                                    tzinfo=dt.timezone(dt.timedelta(hours=2)))
    h = {**service.auth("billing"), "Idempotency-Key": "k-zone"}
    first = service.client.post(ISSUE, json={"order": order(1)}, headers=h)
    assert first.json()["issued_at"] == "2026-03-16T09:00:00.120000Z"
    again = service.client.post(ISSUE, json={"order": order(1)}, headers=h)
    stored = service.client.get(f"{ISSUE}/{first.json()['number']}",
                                headers=service.auth("billing"))
    assert again.content == first.content
    assert stored.json()["issued_at"] == first.json()["issued_at"]


def test_same_key_different_body_conflicts(service: Service) -> None:
    h = {**service.auth("billing"), "Idempotency-Key": "k-2"}
    assert service.client.post(ISSUE, json={"order": order(1)}, headers=h).status_code == 201
    r = service.client.post(ISSUE, json={"order": order(2)}, headers=h)
    assert r.status_code == 409
    assert r.json()["code"] == "idempotency_conflict"


def test_a_refused_request_is_not_remembered(service: Service) -> None:
    h = {**service.auth("billing"), "Idempotency-Key": "k-3"}
    blocked = order(1)
    blocked["customer"]["type"] = "business"
    assert service.client.post(ISSUE, json={"order": blocked}, headers=h).status_code == 422
    fixed = order(1)
    r = service.client.post(ISSUE, json={"order": fixed}, headers=h)
    assert r.status_code == 201, r.text


def test_keys_expire_and_are_purged(service: Service) -> None:
    h = {**service.auth("billing"), "Idempotency-Key": "k-4"}
    first = service.client.post(ISSUE, json={"order": order(1)}, headers=h)
    service.clock.now += service.settings.idempotency_ttl + dt.timedelta(seconds=1)
    second = service.client.post(ISSUE, json={"order": order(1)}, headers=h)
    # past the retention period the key is new again: a second invoice
    assert second.status_code == 201
    assert first.json()["number"] != second.json()["number"]
    service.clock.now += service.settings.idempotency_ttl + dt.timedelta(seconds=1)
    assert idempotency.purge(service.svc.db, service.settings.idempotency_ttl,
                             service.clock.now) == 1


def test_fifty_concurrent_requests_with_one_key_make_one_invoice(service: Service) -> None:
    h = {**service.auth("billing"), "Idempotency-Key": "same-key"}
    body = {"order": order(7)}

    def post(_: int) -> tuple[int, bytes]:
        r = service.client.post(ISSUE, json=body, headers=h)
        return r.status_code, r.content

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(post, range(50)))
    assert {status for status, _ in results} == {201}
    assert len({content for _, content in results}) == 1
    listing = service.client.get(ISSUE, headers=service.auth("billing")).json()
    assert [i["number"] for i in listing["items"]] == ["T-2026-00001"]


def test_keys_belong_to_the_api_key_that_sent_them(service: Service) -> None:
    with service.svc.db.write() as s:
        from api.auth import create_key

        other = create_key(s, service.settings, "billing", "second system", "test")[1]
    mine = {**service.auth("billing"), "Idempotency-Key": "ord-1"}
    theirs = {"Authorization": f"Bearer {other}", "Idempotency-Key": "ord-1"}
    first = service.client.post(ISSUE, json={"order": order(1)}, headers=mine)
    # another system's key with the same name is its own: a new invoice, no conflict
    second = service.client.post(ISSUE, json={"order": order(2)}, headers=theirs)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["number"] != second.json()["number"]
    again = service.client.post(ISSUE, json={"order": order(2)}, headers=theirs)
    assert again.headers["Idempotent-Replayed"] == "true" and again.content == second.content


def test_same_key_on_another_endpoint_conflicts(service: Service) -> None:
    h = {**service.auth("billing"), "Idempotency-Key": "k-9"}
    number = service.client.post(ISSUE, json={"order": order(1)}, headers=h).json()["number"]
    r = service.client.post(f"{ISSUE}/{number}/void", json={"reason": "duplicate"}, headers=h)
    assert (r.status_code, r.json()["code"]) == (409, "idempotency_conflict")


def _issue(db: Any, req: Any, n: int) -> Any:
    try:
        return idempotency.run(db, req, dt.timedelta(hours=1), ISSUED_AT, issue_action(n), "T")
    except ApiError as exc:
        return exc.code


def test_one_key_from_two_server_processes_at_once_issues_once_and_loses_no_number(
        database_url: str) -> None:
    # two stores on one database, as two server processes have (each its own group commit)
    first = Database(database_url)
    first.migrate()
    second = Database(database_url)
    same = idempotency.request_for("k-1", "key:1", "POST /v1/invoices", {"order": order(1)})
    other = [idempotency.request_for("k-2", "key:1", "POST /v1/invoices", {"order": order(n)})
             for n in (2, 3)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        # k-1 with one body sixteen times; k-2 with another body each time
        replays = list(pool.map(lambda i: _issue((first, second)[i % 2], same, 1), range(16)))
        mixed = list(pool.map(lambda i: _issue((first, second)[i % 2], other[i % 2],
                                               2 + i % 2), range(16)))
    assert len({o.body for o in replays}) == 1
    assert sorted(o.replayed for o in replays) == [False] + [True] * 15
    # the first body to commit under k-2 is issued; the other body is a conflict each time
    winner = [o for o in mixed if not isinstance(o, str) and not o.replayed]
    assert len(winner) == 1
    assert {o for o in mixed if isinstance(o, str)} == {"idempotency_conflict"}
    assert _issue(first, None, 9).status == 201
    assert issued_seqs(first) == [1, 2, 3]  # the refused and rolled-back requests left no gap
    first.dispose()
    second.dispose()



def test_keys_in_utf8_are_keys_and_control_bytes_are_not() -> None:
    # a header as the server reads it off the wire: bytes, one Latin-1 character each (the
    # test client would encode such a header's text again, so the rule is checked here);
    # a client writes non-ASCII keys in UTF-8, whose bytes alone may be control characters
    # (the Cyrillic and the combining accent here hold 0x80-0x9F bytes)
    def read(sent: bytes) -> idempotency.IdemRequest | None:
        return idempotency.request_for(sent.decode("latin-1"), "key:1", "POST /v1/invoices",
                                       {"order": {}})

    for key in ("ord-ключ", "ord-é", "e\u0301-1", "注文-7", "ord 1", "k" * 255):
        req = read(key.encode())
        assert req is not None and req.key == key.encode().decode("latin-1"), key
    for sent in (b"a\tb", b"x\x85", "a\u200bb".encode()[:2], b"\xff\xfe", "\u0085".encode(),
                 "\u200e".encode() + b"k"):
        try:
            read(sent)
        except ApiError as exc:
            assert exc.code == "invalid_idempotency_key"
            assert exc.details[0]["loc"] == ["header", "idempotency-key"]
        else:
            raise AssertionError(f"{sent!r} was taken as a key")

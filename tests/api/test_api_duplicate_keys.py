"""A JSON body that gives a key twice in one object is refused, on every endpoint that takes
one: tests/cases/api-duplicate-keys/*.yaml.

A case sends `body` (the text as written, with its repeat) to `path` (POST) with the key of
`role` (`none`: no key), `headers` and, with `sign`, the webhook signature. It expects `want`:
the status, the code and, when given, the location of the repeated key (`loc`, the key last;
`line` and `column` of its second occurrence). The message is the fixed one, none of the
case's `secrets` (values in the body) is in the response, and nothing in the store changed.
Then the same request is sent with the body as JSON parsers read it when they keep the last
value, and answers `then`: the refusal was about the repeat alone, and a refused request's
Idempotency-Key was not remembered (the corrected request is not a 409 nor a replay).

Each case runs on a fresh store following a policy repository (activation and the webhook
need one), holding T-2026-00001, and T-2026-00002 with a credit note and credit note request
1 awaiting approval.

Below them: every route with a body reads it this way, the locator's document order, and two
properties against `json.loads`: a body without a repeat reads to the same value, a body that
is not JSON fails the same way, and a repeat is located where a walk of the tree finds it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from api_fakes import order
from api_service import Service
from hypothesis import assume, given, settings
from hypothesis import strategies as st

CASES = Path(__file__).resolve().parent.parent / "cases" / "api-duplicate-keys"
SECRET = "dup-keys-webhook-secret"
MESSAGE = "a key is given twice in one JSON object"


def _cases() -> list[Any]:
    return [pytest.param(yaml.safe_load(p.read_text()), id=p.stem)
            for p in sorted(CASES.glob("*.yaml"))]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
                        "PATH": "/usr/bin:/bin"})


def _service(tmp_path: Path) -> Service:
    repo = tmp_path / "policy-repo"
    (repo / "policies").mkdir(parents=True)
    (repo / "policies" / "p.yaml").write_text("kind: ok\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "policies")
    s = Service(f"sqlite:///{tmp_path / 'dup.db'}", repo=repo, branch="main",
                subdir="policies", poll_interval=0, webhook_secret=SECRET)
    billing = s.auth("billing")
    for n in (1, 2):
        assert s.client.post("/v1/invoices", json={"order": order(n)},
                             headers=billing).status_code == 201
    notes = "/v1/invoices/T-2026-00002/credit-notes"
    r = s.client.post(notes, json={"amount": "1.00", "reason": "r"}, headers=billing)
    assert r.status_code == 201
    r = s.client.post(notes, json={"amount": "20.00", "reason": "r"}, headers=billing)
    assert r.status_code == 202 and r.json()["id"] == 1
    return s


def _stored(s: Service) -> dict[str, list[str]]:
    """Every row of every table."""
    from sqlalchemy import select
    from sqlmodel import SQLModel

    with s.svc.db.read() as session:
        conn = session.connection()
        return {t.name: sorted(repr(tuple(row)) for row in conn.execute(select(t)))
                for t in SQLModel.metadata.sorted_tables}


def _send(s: Service, case: dict[str, Any], text: str) -> Any:
    headers = {"Content-Type": "application/json", **s.auth(case["role"]),
               **case.get("headers", {})}
    if case.get("sign"):
        digest = hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()
        headers["X-Billplane-Signature"] = f"sha256={digest}"
    return s.client.post(case["path"], content=text.encode(), headers=headers)


def _key_at(text: str, line: int, column: int) -> str:
    """The JSON string that starts at (line, column), both counted from 1."""
    start = sum(len(x) + 1 for x in text.split("\n")[:line - 1]) + column - 1
    key, _ = json.JSONDecoder().raw_decode(text, start)
    assert isinstance(key, str)
    return key


def test_cases_exist() -> None:
    assert len(_cases()) >= 15


@pytest.mark.parametrize("case", _cases())
def test_repeated_key(case: dict[str, Any], tmp_path: Path) -> None:
    s = _service(tmp_path)
    try:
        text = case["body"]
        before = _stored(s)
        r = _send(s, case, text)
        want = case["want"]
        assert (r.status_code, r.json()["code"]) == (want["status"], want["code"]), r.text
        body = r.json()
        assert set(body) == {"code", "message", "details"}
        if want["code"] == "duplicate_key":
            assert body["message"] == MESSAGE
            [detail] = body["details"]
            assert detail == {"loc": want["loc"], "type": "repeated", "line": want["line"],
                              "column": want["column"],
                              "message": "repeats a key given before in the same object"}
            key = _key_at(text, want["line"], want["column"])
            assert want["loc"][-1] in (key, "<key>")
        for secret in case.get("secrets", []):
            assert secret not in r.text
        assert _stored(s) == before, "a refused request stored something"
        # what a parser that keeps the last value read, sent without the repeat
        again = _send(s, case, json.dumps(json.loads(text)))
        assert again.status_code == case["then"], again.text
        assert "Idempotent-Replayed" not in again.headers
    finally:
        s.close()


def test_every_route_reads_its_body_without_repeats(sqlite_service: Service) -> None:
    """A new router or endpoint gets the check too (every route with a body is a JsonRoute),
    and every operation with a body documents the 422."""
    from fastapi.routing import APIRoute

    from api.inputs import JsonRoute

    pending = list(sqlite_service.app.router.routes)
    with_body = []
    while pending:
        route = pending.pop()
        inner = getattr(route, "original_router", None) or route
        pending.extend(r for r in getattr(inner, "routes", ()) if r is not route)
        if isinstance(route, APIRoute) and route.body_field is not None:
            with_body.append(route)
            assert isinstance(route, JsonRoute), route.path
    assert len(with_body) >= 8
    doc = sqlite_service.client.get("/openapi.json").json()
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            if "requestBody" in op:
                assert "422" in op["responses"], (method, path)


@pytest.mark.parametrize(("text", "found"), [
    ('{"a": 1, "a": 2}', (["a"], 9)),
    ('{"a": {"b": [1, {"c": 1}, {"c": 1, "c": 2}]}}', (["a", "b", 2, "c"], 35)),
    # strings holding quotes, colons, commas and brackets are not structure
    ('{"s": "\\"s\\": {[,", "t": "}]", "s": 0}', (["s"], 31)),
    ('[{}, [], {"k": null, "l": {"k": 1}}, {"k": true, "k": false}]', ([3, "k"], 49)),
    # the first repeat in document order, not the first object to close
    ('{"x": 1, "y": {"z": 1, "z": 2}, "x": 3}', (["y", "z"], 23)),
    ('{"a": 1, "b": {"a": 1}, "c": [{"a": 1}]}', None),
    ('{"a" :1 ,\r\n\t"a" : 2}', (["a"], 12)),
])
def test_the_first_repeated_key_is_located(text: str, found: Any) -> None:
    from engine.jsontext import locate_repeated_key

    assert locate_repeated_key(text) == found


class _Pairs(list[tuple[str, Any]]):
    """An object as written: its pairs in order, repeats included."""


# JSON text built from trees in which an object is a list of (key, value) pairs, so that keys
# can repeat; few key names, so that they often do
_KEYS = st.sampled_from(["a", "b", "id", "\u00e9", 'q"'])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5))


_TREES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.lists(st.tuples(_KEYS, inner), max_size=4).map(_Pairs)), max_leaves=20)
# Python's non-JSON constants among the values (and strings holding their words), in objects
# without repeated keys
_WITH_CONSTANTS = st.recursive(
    st.one_of(_SCALARS, st.sampled_from([float("nan"), float("inf"), float("-inf")]),
              st.sampled_from(["NaN", "-Infinity", "x Infinity"])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(st.tuples(_KEYS, inner), max_size=4, unique_by=lambda p: p[0]).map(_Pairs)),
    max_leaves=20)


def _text(tree: Any, indent: str) -> str:
    if isinstance(tree, _Pairs):
        return "{" + ",".join(f"{indent}{json.dumps(k)} : {_text(v, indent)}"
                              for k, v in tree) + "}"
    if isinstance(tree, list):
        return "[" + ", ".join(_text(v, indent) for v in tree) + "]"
    return json.dumps(tree)


def _first_repeat(tree: Any, path: tuple[str | int, ...] = ()) -> list[str | int] | None:
    """The reference: in document order a key comes before its value, its value before the
    next key."""
    if isinstance(tree, _Pairs):
        seen: set[str] = set()
        for key, value in tree:
            if key in seen:
                return [*path, key]
            seen.add(key)
            found = _first_repeat(value, (*path, key))
            if found is not None:
                return found
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            found = _first_repeat(value, (*path, i))
            if found is not None:
                return found
    return None


@settings(max_examples=300, deadline=None, derandomize=True)
@given(tree=_TREES, indent=st.sampled_from(["", "\n  ", "\r\n\t"]))
def test_a_body_reads_as_before_unless_a_key_repeats(tree: Any, indent: str) -> None:
    from api.errors import ApiError
    from api.inputs import loads_body

    text = _text(tree, indent)
    body = text.encode()
    repeat = _first_repeat(tree)
    if repeat is None:
        assert repr(loads_body(body)) == repr(json.loads(body))
        return
    with pytest.raises(ApiError) as err:
        loads_body(body)
    [detail] = err.value.details
    shown = [p if isinstance(p, int) or p.isalnum() else "<key>" for p in repeat]
    assert (err.value.code, detail["loc"]) == ("duplicate_key", ["body", *shown])
    assert _key_at(text, detail["line"], detail["column"]) == repeat[-1]


def _first_constant(tree: Any, indent: str) -> int | None:
    """The reference: where `_text(tree, indent)` has its first NaN or infinity."""
    at = 0

    def walk(node: Any) -> bool:
        nonlocal at
        if isinstance(node, _Pairs):
            at += 1
            for i, (k, v) in enumerate(node):
                at += (1 if i else 0) + len(f"{indent}{json.dumps(k)} : ")
                if walk(v):
                    return True
            at += 1
        elif isinstance(node, list):
            at += 1
            for i, v in enumerate(node):
                at += 2 if i else 0
                if walk(v):
                    return True
            at += 1
        elif isinstance(node, float) and not math.isfinite(node):
            return True
        else:
            at += len(json.dumps(node))
        return False

    return at if walk(tree) else None


@settings(max_examples=300, deadline=None, derandomize=True)
@given(tree=_WITH_CONSTANTS, indent=st.sampled_from(["", "\n  ", "\r\n\t"]))
def test_nan_and_infinities_are_not_json_and_are_located(tree: Any, indent: str) -> None:
    from api.inputs import loads_body

    at = _first_constant(tree, indent)
    assume(at is not None)
    text = _text(tree, indent)
    with pytest.raises(json.JSONDecodeError) as err:
        loads_body(text.encode())
    name = err.value.msg.split(" ")[0]
    assert (err.value.pos, name) == (at, json.dumps(_constants(tree)[0]))
    assert err.value.msg == f"{name} is not a JSON value (RFC 8259 has no NaN or infinities)"


def _constants(tree: Any) -> list[float]:
    if isinstance(tree, _Pairs):
        return [c for _, v in tree for c in _constants(v)]
    if isinstance(tree, list):
        return [c for v in tree for c in _constants(v)]
    return [tree] if isinstance(tree, float) and not math.isfinite(tree) else []


@settings(max_examples=300, deadline=None, derandomize=True)
@given(text=st.text(alphabet='{}[],:"ab1 .e-\\u\ud800', max_size=30))
def test_a_body_that_is_not_json_fails_as_before(text: str) -> None:
    from api.errors import ApiError
    from api.inputs import loads_body

    body = text.encode("utf-8", "surrogatepass")

    def outcome(read: Any) -> tuple[Any, ...]:
        try:
            return ("value", repr(read(body)))
        except ApiError as exc:
            return ("repeat", exc.code)
        except json.JSONDecodeError as exc:
            return ("invalid", exc.msg, exc.pos)
        except ValueError as exc:
            return ("undecodable", type(exc).__name__)

    before, now = outcome(json.loads), outcome(loads_body)
    assert now == before or (now == ("repeat", "duplicate_key") and before[0] == "value")

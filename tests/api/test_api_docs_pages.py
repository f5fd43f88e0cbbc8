"""The interactive documentation pages work without the internet: their scripts and styles
are served by the service itself, and Swagger UI renders every operation of the spec."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from api_service import Service
from served import Served

ROOT = Path(__file__).resolve().parents[2]
METHODS = {"get", "post", "put", "patch", "delete"}


def _references(page: str) -> list[str]:
    """Every script, style and icon URL the page loads."""
    return re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_doc_pages_load_only_what_the_service_serves(sqlite_service: Service,
                                                     page: str) -> None:
    c = sqlite_service.client
    r = c.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    refs = _references(r.text)
    assert "/openapi.json" in refs
    assets = [ref for ref in refs if ref != "/openapi.json" and not ref.endswith("redirect")]
    assert assets, r.text
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), f"{page} loads {ref}"
    for ref in assets:
        got = c.get(ref)
        assert got.status_code == 200 and len(got.content) > 4_000, ref
    assert not any(p.startswith(("/docs", "/redoc")) for p in c.get("/openapi.json").json()
                   ["paths"])


# hosts a documentation page or its scripts would load a script, a style, a font or an image
# from (FastAPI's defaults and the ReDoc logo); the scripts name other hosts only as schema
# identifiers and links, which load nothing
CDNS = re.compile(rb"cdn\.|jsdelivr|unpkg|googleapis|gstatic")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_doc_pages_and_their_scripts_name_no_other_host_to_load_from(
        sqlite_service: Service, page: str) -> None:
    c = sqlite_service.client
    html = c.get(page).text
    assert not re.search(r"https?://|//[\w.-]+\.\w", html), html
    for ref in _references(html):
        if ref != "/openapi.json" and not ref.endswith("redirect"):
            got = c.get(ref).content
            found = CDNS.search(got)
            assert found is None, (ref, got[found.start() - 60:found.end() + 60])


def test_doc_assets_are_read_only(sqlite_service: Service) -> None:
    r = sqlite_service.client.post("/docs/assets/swagger-ui.css")
    assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed")
    assert r.headers["allow"] == "GET, HEAD"


def test_swagger_ui_redirect_page_takes_the_authorization_servers_parameters(
        sqlite_service: Service) -> None:
    r = sqlite_service.client.get("/docs/oauth2-redirect?code=abc&state=xyz")
    assert r.status_code == 200 and "oauth2" in r.text.lower()


def _requested(chrome: Any) -> set[str]:
    """The URLs of every request the browser made (its performance log)."""
    urls = set()
    for entry in chrome.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.add(message["params"]["request"]["url"])
    return urls


@pytest.mark.slow
def test_redoc_renders_offline_and_asks_no_other_host(tmp_path: Path, chrome: Any) -> None:
    """ReDoc's script loaded its logo from cdn.redoc.ly: a failed request on every page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    served = Served(["--policies", str(policies), "--database-url",
                     f"sqlite:///{tmp_path / 's.db'}"], tmp_path / "serve.log")
    try:
        chrome.set_window_size(1280, 1000)  # wide enough for the menu, where the logo was
        chrome.get(served.base + "/redoc")
        WebDriverWait(chrome, 30).until(
            lambda b: b.find_elements(By.CSS_SELECTOR, "[data-section-id^='operation/']"))
        assert "API docs by Redocly" in chrome.find_element(By.TAG_NAME, "body").text
        requested = _requested(chrome)
        assert served.base + "/openapi.json" in requested
        elsewhere = {u for u in requested if u.startswith(("http:", "https:"))
                     and not u.startswith(served.base + "/")}
        assert elsewhere == set()
        errors = [e for e in chrome.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert errors == []
    finally:
        served.stop()


@pytest.mark.slow
def test_swagger_ui_renders_every_operation_offline(tmp_path: Path, chrome: Any,
                                                    artifacts: Path) -> None:
    """`billplane serve` on the example policies; Chromium can reach no host but this one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    served = Served(["--policies", str(policies), "--database-url",
                     f"sqlite:///{tmp_path / 's.db'}"], tmp_path / "serve.log")
    try:
        spec = served.request("GET", "/openapi.json").json()
        operations = sum(1 for item in spec["paths"].values() for m in item if m in METHODS)
        chrome.get(served.base + "/docs")
        WebDriverWait(chrome, 30).until(
            lambda b: len(b.find_elements(By.CSS_SELECTOR, ".opblock")) >= operations)
        assert len(chrome.find_elements(By.CSS_SELECTOR, ".opblock")) == operations
        title = chrome.find_element(By.CSS_SELECTOR, ".info .title").text
        assert title.startswith("billplane")
        errors = [e for e in chrome.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert errors == []
        chrome.set_window_size(1280, 2000)
        chrome.save_screenshot(str(artifacts / "api-docs.png"))
        assert (artifacts / "api-docs.png").stat().st_size > 10_000
    finally:
        served.stop()

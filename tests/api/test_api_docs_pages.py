"""The interactive documentation pages work without the internet: their scripts and styles
are served by the service itself, and Swagger UI renders every operation of the spec."""

from __future__ import annotations

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


def test_doc_assets_are_read_only(sqlite_service: Service) -> None:
    r = sqlite_service.client.post("/docs/assets/swagger-ui.css")
    assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed")
    assert r.headers["allow"] == "GET, HEAD"


def test_swagger_ui_redirect_page_takes_the_authorization_servers_parameters(
        sqlite_service: Service) -> None:
    r = sqlite_service.client.get("/docs/oauth2-redirect?code=abc&state=xyz")
    assert r.status_code == 200 and "oauth2" in r.text.lower()


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

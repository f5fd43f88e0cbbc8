"""Writing a replay's reports (Markdown, JSON, HTML) into an output directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.errors import Location, fail
from sandbox import report_html, report_md
from sandbox.report import to_json


def write_reports(out: str, report: dict[str, Any], extra_md: str = "",
                  approvals: list[dict[str, Any]] | None = None,
                  name: str = "replay") -> dict[str, Path]:
    """Write NAME.md, NAME.json and NAME.html into `out`; returns the paths by format."""
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"md": folder / f"{name}.md", "json": folder / f"{name}.json",
                 "html": folder / f"{name}.html"}
        paths["md"].write_text(report_md.render(report, extra_md), encoding="utf-8")
        paths["json"].write_text(to_json(report), encoding="utf-8")
        paths["html"].write_text(report_html.render(report, approvals), encoding="utf-8")
    except OSError as exc:
        raise fail("cannot_write", f"cannot write reports: {exc.strerror}",
                   Location(str(folder))) from None
    return paths

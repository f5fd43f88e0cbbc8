"""Reports of the PR check: the replay report plus check, tests and approvals sections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.errors import Location, fail
from sandbox import report_html, report_md


def approvals_md(data: dict[str, Any]) -> str:
    """The check's own Markdown sections (goes right after the replay summary)."""
    out = []
    if data["failures"]:
        out.append("### ❌ Check failed\n")
        out += [f"- {f}" for f in data["failures"]]
        for side, c in data["check"].items():
            for e in c.get("errors", [])[:20]:
                out.append(f"  - {side}: `{e['file']}:{e['line']}` {e['code']}: {e['message']}")
        out.append("")
    tests = data.get("tests")
    if tests is not None:
        out.append(f"**Policy tests (head):** {tests['passed']} passed, {tests['failed']} "
                   f"failed; rule coverage {tests['coverage']['percent']}%.\n")
        for case in [c for c in tests["cases"] if not c["passed"]][:20]:
            out.append(f"- ❌ `{case['where']}` {case['suite']} / {case['name']}")
    if data["approvals"]:
        out.append("\n### Required approvals\n")
        out += [f"- **{a['team']}**: {'; '.join(a['reasons'])}" for a in data["approvals"]]
    else:
        out.append("\nNo approvals required by ownership or thresholds.")
    if data["changed_paths"]:
        out.append("\n<details><summary>Changed policy files</summary>\n")
        out += [f"- `{p}`" for p in data["changed_paths"][:200]]
        out.append("\n</details>")
    return "\n".join(out) + "\n"


def render_md(data: dict[str, Any]) -> str:
    """The PR comment."""
    if data.get("replay"):
        return report_md.render(data["replay"], approvals_md(data))
    head = f"## Policy check: `{data['base']}` → `{data['head']}`\n\n"
    note = "" if data["failures"] else "_No order history given: replay skipped._\n\n"
    return head + note + approvals_md(data)


def write(out: str, data: dict[str, Any]) -> dict[str, Path]:
    """Write report.md, report.json and (with a replay) report.html into `out`."""
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"md": folder / "report.md", "json": folder / "report.json"}
        paths["md"].write_text(render_md(data), encoding="utf-8")
        paths["json"].write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n",
                                 encoding="utf-8")
        if data.get("replay"):
            paths["html"] = folder / "report.html"
            paths["html"].write_text(report_html.render(data["replay"], data["approvals"]),
                                     encoding="utf-8")
    except OSError as exc:
        raise fail("cannot_write", f"cannot write reports: {exc.strerror}",
                   Location(str(folder))) from None
    return paths

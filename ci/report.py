"""Reports of the PR check: the replay report plus check, tests and approvals sections.

Every section is capped, so that the comment fits whatever the change: the approvals come
first (each team's reasons shortened to a few owned files and the thresholds), then check
failures, failing tests and changed files, each with a bounded number of entries.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.errors import Location, fail
from sandbox import report_html, report_md
from sandbox.report import revision_name, revision_subject

MAX_ITEMS = 20  # entries of a list section shown in the comment
MAX_PATHS = 5  # owned paths named per team
MAX_LINE = 600  # characters of one entry


def _clip(text: str, limit: int = MAX_LINE) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reasons(reasons: list[str]) -> str:
    """A team's reasons in one bounded line: owned files grouped, thresholds as they are."""
    owned = [r[5:] for r in reasons if r.startswith("owns ")]
    other = [r for r in reasons if not r.startswith("owns ")]
    parts = []
    if len(owned) == 1:
        parts.append(f"owns {owned[0]}")
    elif owned:
        more = f" and {len(owned) - MAX_PATHS} more" if len(owned) > MAX_PATHS else ""
        parts.append(f"owns {len(owned)} changed files: {', '.join(owned[:MAX_PATHS])}{more}")
    parts += other[:MAX_ITEMS]
    if len(other) > MAX_ITEMS:
        parts.append(f"{len(other) - MAX_ITEMS} more reasons in report.json")
    return _clip("; ".join(parts), MAX_LINE * 2)


def _more(items: list[Any], what: str) -> list[str]:
    extra = len(items) - MAX_ITEMS
    return [f"- … and {extra} more {what} (report.json has them all)"] if extra > 0 else []


def approvals_md(data: dict[str, Any]) -> str:
    """The check's own Markdown sections (goes right after the replay summary)."""
    out = []
    if data["approvals"]:
        out.append("### Required approvals\n")
        out += [f"- **{a['team']}**: {_reasons(a['reasons'])}" for a in data["approvals"]]
    elif not data["failures"]:
        out.append("No approvals required by ownership or thresholds.")
    out += [f"\n_{_clip(n)}_" for n in data.get("notes", [])[:MAX_ITEMS]]
    if data["failures"]:
        out.append("\n### ❌ Check failed\n")
        out += [f"- {_clip(f)}" for f in data["failures"][:MAX_ITEMS]]
        for side, c in data["check"].items():
            errors = c.get("errors", [])
            for e in errors[:MAX_ITEMS]:
                where = f"{e['file']}:{e['line']}" if e.get("line") else str(e["file"])
                out.append(_clip(f"  - {side}: `{where}` {e['code']}: {e['message']}"))
            out += _more(errors, f"{side} errors")
    tests = data.get("tests")
    if tests is not None:
        out.append(f"\n**Policy tests (head):** {tests['passed']} passed, {tests['failed']} "
                   f"failed; rule coverage {tests['coverage']['percent']}%.\n")
        failing = [c for c in tests["cases"] if not c["passed"]]
        out += [_clip(f"- ❌ `{c['where']}` {c['suite']} / {c['name']}")
                for c in failing[:MAX_ITEMS]]
        out += _more(failing, "failing cases")
    paths = data["changed_paths"]
    if paths:
        out.append(f"\n<details><summary>Changed policy files ({len(paths)})</summary>\n")
        out += [_clip(f"- `{p}`") for p in paths[:MAX_ITEMS * 2]]
        if len(paths) > MAX_ITEMS * 2:
            out.append(f"- … and {len(paths) - MAX_ITEMS * 2} more (report.json has them all)")
        out.append("\n</details>")
    return "\n".join(out) + "\n"


def title(data: dict[str, Any], code: str = "`") -> str:
    """`base → head`, each by the ref given and its short SHA (the base as the merge base of
    its ref where it is one), or by the ref alone when the revision did not load."""
    named = data.get("revisions") or {}
    parts = []
    for side in ("base", "head"):
        if side in named:
            parts.append(revision_name(named[side], code))
        else:
            parts.append(f"{code}{data[side]}{code}")
    return " → ".join(parts)


def _title(data: dict[str, Any]) -> str:
    named = data.get("revisions") or {}
    subjects = [f"{side} {revision_subject(named[side])}: {_clip(named[side]['subject'], 200)}"
                for side in ("base", "head") if named.get(side, {}).get("subject")]
    return (f"## Policy check: {title(data)}\n"
            + (f"_{'; '.join(subjects)}._\n" if subjects else ""))


def render_md(data: dict[str, Any], limit: int = report_md.REPORT_LIMIT) -> str:
    """The PR comment, at most `limit` characters (room is left for the marker the comment
    tool adds, within GitHub's limit)."""
    if data.get("replay"):
        return report_md.render(data["replay"], approvals_md(data), limit)
    text = _title(data) + "\n" + approvals_md(data)
    if len(text) > limit:
        note = "\n\n_Truncated to fit the comment limit; report.json has everything._\n"
        text = text[: max(text.rfind("\n", 0, limit - len(note)), 0)] + note
    return text


def render_html(data: dict[str, Any]) -> str:
    """The HTML report: the replay's page, or without a replay the check's own page."""
    notes = [str(n).replace("`", "") for n in data.get("notes", [])]
    if data.get("replay"):
        return report_html.render(data["replay"], data["approvals"], notes + data["failures"])
    e = report_html.html.escape
    named = data.get("revisions") or {}
    body = [f"<h1>Policy check: {e(title(data, ''))}</h1>"]
    body += [f'<p class="note">{side} {e(revision_subject(named[side], ""))}: '
             f'{e(named[side]["subject"])}</p>'
             for side in ("base", "head") if named.get(side, {}).get("subject")]
    body += [f'<p class="note">{e(n)}</p>' for n in notes]
    if data["failures"]:
        body.append("<h2>Check failed</h2>")
        body.append(report_html.table(["Failure"], [[f] for f in data["failures"]]))
    body.append("<h2>Required approvals</h2>")
    body.append(report_html.table(["Team", "Why"], [[a["team"], "; ".join(a["reasons"])]
                                                    for a in data["approvals"]]))
    tests = data.get("tests")
    if tests is not None:
        body.append("<h2>Policy tests (head)</h2>")
        body.append(f'<p class="note">{tests["passed"]} passed, {tests["failed"]} failed.</p>')
        body.append(report_html.table(["Where", "Suite", "Case"], [
            [c["where"], c["suite"], c["name"]] for c in tests["cases"] if not c["passed"]]))
    body.append("<h2>Changed policy files</h2>")
    body.append(report_html.table(["Path"], [[p] for p in data["changed_paths"]]))
    return report_html.page(f"Policy check {e(title(data, ''))}", body)


def write(out: str, data: dict[str, Any]) -> dict[str, Path]:
    """Write report.md, report.json and report.html into `out`."""
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"md": folder / "report.md", "json": folder / "report.json",
                 "html": folder / "report.html"}
        paths["md"].write_text(render_md(data), encoding="utf-8")
        paths["json"].write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n",
                                 encoding="utf-8")
        paths["html"].write_text(render_html(data), encoding="utf-8")
    except OSError as exc:
        raise fail("cannot_write", f"cannot write reports: {exc.strerror}",
                   Location(str(folder))) from None
    return paths

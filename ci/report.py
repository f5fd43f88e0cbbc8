"""Reports of the PR check: the replay report plus check, tests and approvals sections.

Every section is capped, so that the comment fits whatever the change: the approvals come
first (each team's reasons shortened to a few owned files and the thresholds), then check
failures, failing tests and changed files, each with a bounded number of entries.
When even that is too long (thousands of teams must approve), the sections are condensed in
steps (`LEVELS`): the number of teams, the first of them with shorter reasons (then their
names alone), and a line saying that report.json and report.html list them all.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import Location, fail
from sandbox import markdown as md
from sandbox import report_html, report_md
from sandbox.report import revision_name, revision_subject

MAX_ITEMS = 20  # entries of a list section shown in the comment
MAX_PATHS = 5  # owned paths named per team
MAX_LINE = 600  # characters of one entry


def _clip(text: str, limit: int = MAX_LINE) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Level:
    """How much of the check's sections the comment shows: the first level is the whole
    report (each section capped), later ones condense it to fit beside a large replay."""

    approvals: int | None  # teams listed (None: all)
    reason: int  # characters of a team's reasons (0: the team's name alone)
    owned: int  # owned files named per team (the others counted)
    items: int  # entries of the notes, failures, errors and failing cases
    paths: int  # changed policy files listed


LEVELS = (Level(None, MAX_LINE * 2, MAX_PATHS, MAX_ITEMS, MAX_ITEMS * 2),
          Level(100, 300, 2, 10, 10), Level(50, 150, 0, 5, 0), Level(20, 100, 0, 3, 0),
          Level(10, 0, 0, 1, 0), Level(0, 0, 0, 0, 0))


def _reasons(reasons: list[str], limit: int = MAX_LINE * 2, named: int = MAX_PATHS) -> str:
    """A team's reasons in one bounded line: owned files grouped (the first `named` of them
    named), thresholds as they are."""
    owned = [r[5:] for r in reasons if r.startswith("owns ")]
    other = [r for r in reasons if not r.startswith("owns ")]
    parts = []
    if len(owned) == 1 and named:
        parts.append(f"owns {owned[0]}")
    elif owned and named:
        more = f" and {len(owned) - named} more" if len(owned) > named else ""
        parts.append(f"owns {len(owned)} changed files: {', '.join(owned[:named])}{more}")
    elif owned:
        parts.append(f"owns {len(owned)} changed file{'s' if len(owned) > 1 else ''}")
    parts += other[:MAX_ITEMS]
    if len(other) > MAX_ITEMS:
        parts.append(f"{len(other) - MAX_ITEMS} more reasons in report.json")
    return _clip("; ".join(parts), limit)


def _more(items: list[Any], what: str, shown: int = MAX_ITEMS) -> list[str]:
    extra = len(items) - shown
    return [f"- … and {extra} more {what} (report.json has them all)"] if extra > 0 else []


def _approvals(approvals: list[dict[str, Any]], level: Level) -> list[str]:
    """The required approvals: every team with its reasons, or (condensed) how many teams,
    the first of them, and where the others are; never fewer teams without saying so."""
    out = ["### Required approvals\n"]
    shown = len(approvals) if level.approvals is None else min(level.approvals,
                                                               len(approvals))
    if shown < len(approvals):
        first = f"; the first {shown} are listed here" if shown else ""
        out.append(f"Approvals are required from **{len(approvals)} teams**{first}; "
                   f"report.json and report.html list all {len(approvals)} with every "
                   "reason.\n")
    for a in approvals[:shown]:
        team = f"- **{md.text(_clip(str(a['team']), 200))}**"
        if level.reason:
            team += f": {md.text(_reasons(a['reasons'], level.reason, level.owned))}"
        out.append(team)
    if 0 < shown < len(approvals):
        out.append(f"- … and {len(approvals) - shown} more teams (report.json and report.html "
                   "list them all)")
    return out


def approvals_md(data: dict[str, Any], level: Level = LEVELS[0]) -> str:
    """The check's own Markdown sections (goes right after the replay summary)."""
    out = []
    if data["approvals"]:
        out += _approvals(data["approvals"], level)
    elif not data["failures"]:
        out.append("No approvals required by ownership or thresholds.")
    notes = data.get("notes", [])
    out += [f"\n_{_clip(n)}_" for n in notes[:level.items]]
    if len(notes) > level.items:
        out.append(f"\n_{len(notes) - level.items} more notes in report.json._")
    if data["failures"]:
        out.append("\n### ❌ Check failed\n")
        out += [f"- {md.text(_clip(f))}" for f in data["failures"][:level.items]]
        out += _more(data["failures"], "failures", level.items)
        for side, c in data["check"].items():
            errors = c.get("errors", [])
            for e in errors[:level.items]:
                where = f"{e['file']}:{e['line']}" if e.get("line") else str(e["file"])
                out.append(f"  - {side}: {md.code(_clip(where, 200))} "
                           f"{md.text(_clip(str(e['code']) + ': ' + str(e['message'])))}")
            out += _more(errors, f"{side} errors", level.items)
    tests = data.get("tests")
    if tests is not None:
        out.append(f"\n**Policy tests (head):** {tests['passed']} passed, {tests['failed']} "
                   f"failed; rule coverage {tests['coverage']['percent']}%.\n")
        failing = [c for c in tests["cases"] if not c["passed"]]
        out += [f"- ❌ {md.code(_clip(str(c['where']), 200))} "
                f"{md.text(_clip(str(c['suite']) + ' / ' + str(c['name'])))}"
                for c in failing[:level.items]]
        out += _more(failing, "failing cases", level.items)
    paths = data["changed_paths"]
    if paths and level.paths:
        out.append(f"\n<details><summary>Changed policy files ({len(paths)})</summary>\n")
        out += [f"- {md.code(_clip(p))}" for p in paths[:level.paths]]
        if len(paths) > level.paths:
            out.append(f"- … and {len(paths) - level.paths} more (report.json has them all)")
        out.append("\n</details>")
    elif paths:
        out.append(f"\n_{len(paths)} changed policy files; report.json lists them._")
    return "\n".join(out) + "\n"


def title(data: dict[str, Any], quote: Callable[[str], str] = md.code) -> str:
    """`base → head`, each by the ref given and its short SHA (the base as the merge base of
    its ref where it is one), or by the ref alone when the revision did not load; `quote`
    writes a name (a Markdown code span; `str` for HTML, which escapes the whole)."""
    named = data.get("revisions") or {}
    parts = []
    for side in ("base", "head"):
        if side in named:
            parts.append(revision_name(named[side], quote))
        else:
            parts.append(quote(data[side]))
    return " → ".join(parts)


def _title(data: dict[str, Any]) -> str:
    named = data.get("revisions") or {}
    subjects = [f"{side} {revision_subject(named[side])}: "
                f"{md.text(_clip(named[side]['subject'], 200))}"
                for side in ("base", "head") if named.get(side, {}).get("subject")]
    return (f"## Policy check: {title(data)}\n"
            + (f"_{'; '.join(subjects)}._\n" if subjects else ""))


def render_md(data: dict[str, Any], limit: int = report_md.REPORT_LIMIT) -> str:
    """The PR comment, at most `limit` characters (room is left for the marker the comment
    tool adds, within GitHub's limit); when the check's sections alone do not fit, they are
    condensed (the count of teams whose approval is required, the first of them, and where
    the others are), never cut off."""
    condensed = (approvals_md(data, level) for level in LEVELS[1:])
    if data.get("replay"):
        return report_md.render(data["replay"], approvals_md(data), limit, condensed)
    for sections in itertools.chain([approvals_md(data)], condensed):
        text = _title(data) + "\n" + sections
        if len(text) <= limit:
            return text
    note = "\n\n_Truncated to fit the comment limit; report.json has everything._\n"
    return text[: max(text.rfind("\n", 0, limit - len(note)), 0)] + note


def _check_html(data: dict[str, Any]) -> list[str]:
    """The check's own HTML sections: why the revisions do not load, the head's PolicyTests
    with every failing case, and the changed policy files (all of them: the page is not
    capped)."""
    body = []
    errors = [[side, f"{x['file']}:{x['line']}" if x.get("line") else str(x["file"]), x["code"],
               x["message"]] for side, c in data["check"].items() for x in c.get("errors", [])]
    if errors:
        body.append("<h2>Why the policies do not load</h2>")
        body.append(report_html.table(["Revision", "Where", "Code", "Message"], errors))
    tests = data.get("tests")
    if tests is not None:
        body.append("<h2>Policy tests (head)</h2>")
        body.append(f'<p class="note">{tests["passed"]} passed, {tests["failed"]} failed; rule '
                    f'coverage {tests["coverage"]["percent"]}%.</p>')
        body.append(report_html.table(["Where", "Suite", "Case"], [
            [c["where"], c["suite"], c["name"]] for c in tests["cases"] if not c["passed"]]))
    body.append("<h2>Changed policy files</h2>")
    body.append(report_html.table(["Path"], [[p] for p in data["changed_paths"]]))
    return body


def render_html(data: dict[str, Any]) -> str:
    """The HTML report: the replay's page with the check's sections, or without a replay the
    check's own page."""
    notes = [str(n).replace("`", "") for n in data.get("notes", [])]
    if data.get("replay"):
        failed = [f"❌ Check failed: {f}" for f in data["failures"]]
        return report_html.render(data["replay"], data["approvals"], failed + notes,
                                  _check_html(data))
    e = report_html.html.escape
    named = data.get("revisions") or {}
    body = [f"<h1>Policy check: {e(title(data, str))}</h1>"]
    body += [f'<p class="note">{side} {e(revision_subject(named[side], str))}: '
             f'{e(named[side]["subject"])}</p>'
             for side in ("base", "head") if named.get(side, {}).get("subject")]
    body += [f'<p class="note">{e(n)}</p>' for n in notes]
    if data["failures"]:
        body.append("<h2>Check failed</h2>")
        body.append(report_html.table(["Failure"], [[f] for f in data["failures"]]))
    body.append("<h2>Required approvals</h2>")
    body.append(report_html.table(["Team", "Why"], [[a["team"], "; ".join(a["reasons"])]
                                                    for a in data["approvals"]]))
    body += _check_html(data)
    return report_html.page(f"Policy check {e(title(data, str))}", body)


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

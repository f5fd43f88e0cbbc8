"""Policy paths in findings as the user can open them: under the directory they named."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import replace

from engine.errors import Diagnostic, Location


def relocated(diagnostics: Iterable[Diagnostic], root: str,
              paths: Collection[str]) -> list[Diagnostic]:
    """Findings with policy paths (relative to the policy root) put under `root`.

    Both the location and the places a message mentions (`... at tax/uk.yaml:19:7`) move;
    locations that are not policy files (a repository, a missing directory) stay as they are.
    """
    found = list(diagnostics)
    if not root or not paths:
        return found
    move = relocator(root, paths)
    out = []
    for diag in found:
        loc = diag.location
        if loc.file in paths:
            loc = Location(f"{root}/{loc.file}", loc.line, loc.column)
        out.append(replace(diag, location=loc, message=move(diag.message)))
    return out


def relocator(root: str, paths: Collection[str]) -> Callable[[str], str]:
    """A function putting the policy paths a text mentions (`tax/uk.yaml:19`) under `root`."""
    if not root or not paths:
        return lambda text: text
    names = sorted(paths, key=len, reverse=True)
    mention = re.compile(r"(?<![\w./-])(" + "|".join(map(re.escape, names)) + r")(?=:\d)")
    return lambda text: mention.sub(lambda m: f"{root}/{m.group(1)}", text)

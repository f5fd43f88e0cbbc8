"""`billplane schema`: write the policy JSON Schemas for editors (yaml-language-server)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.schema import SCHEMA_FILES, schema_text

HELP = "write the JSON Schemas of policy files (for editor validation and completion)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `billplane schema`."""
    parser.add_argument("--out", required=True, help="directory to write the schemas into")


def run(args: argparse.Namespace) -> int:
    """Write every schema plus policy.json; print the modeline to put in policy files."""
    out = Path(args.out)
    taken = next((p for p in [*reversed(out.parents), out] if p.exists() and not p.is_dir()),
                 None)
    if taken is not None:
        print(f"billplane schema: --out {out}: {taken} is a file, not a directory: name a "
              "directory to write the schemas into (a missing one is created), or move the "
              "file away", file=sys.stderr)
        return 2
    try:
        out.mkdir(parents=True, exist_ok=True)
        for filename in SCHEMA_FILES:
            schema = json.loads(schema_text(filename))
            # The written file's own URI as $id: editors resolve the relative $refs
            # (order.json, pricingrule.json) next to it instead of fetching them from
            # billplane.dev.
            schema["$id"] = (out / filename).resolve().as_uri()
            (out / filename).write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:  # no permission, a schema's name taken by a directory
        where = exc.filename or out
        print(f"billplane schema: cannot write the schemas into --out {out}: {where}: "
              f"{exc.strerror}; choose another directory", file=sys.stderr)
        return 2
    policy = (out / "policy.json").resolve()
    print(f"wrote {len(SCHEMA_FILES)} schemas to {out}")
    print("put this first line in policy files (or map the glob in your editor settings):")
    print(f"# yaml-language-server: $schema={policy.as_uri()}")
    return 0

"""The README's VAT-rise demo, run as a new user runs it: the script, its reports, its figures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_vat_rise_demo_script(needs_engine: Any, tmp_path: Path) -> None:
    """`examples/vat-rise-demo.sh OUT` writes the three reports, names both revisions by
    branch and subject, and gives the figures the README quotes."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
           f"{os.environ.get('PATH', '')}"}
    out = tmp_path / "vat-rise-report"
    done = subprocess.run(["bash", str(ROOT / "examples" / "vat-rise-demo.sh"), str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "replay.json").read_text())
    c = report["counts"]
    # 1,807 invoices and 24 credit notes; the change reaches UK orders from 2011-01-04 only
    assert (c["read"], c["issues"], c["evaluated"] + c["skipped"]) == (1831, 0, 1831)
    assert (c["changed"], c["changed_credit_notes"]) == (975, 20)
    [gbp] = report["totals"]
    assert (gbp["delta"]["total"], gbp["delta"]["tax"], gbp["delta"]["net"]) == (
        "826.13", "826.13", "0.00")
    assert (report["base"]["ref"], report["head"]["ref"]) == ("before-the-rise", "main")
    md = (out / "replay.md").read_text()
    assert md.startswith("## Policy replay: `before-the-rise` (`")
    assert "**975** of 1831 orders change, 20 of them credit notes" in md
    assert md in done.stdout
    assert "<h1>Policy replay: before-the-rise (" in (out / "replay.html").read_text()
    assert (out / "orders.csv").exists()  # the history the reports name outlives the script
    readme = (ROOT / "README.md").read_text()
    for figure in ("1,807 invoices", "24 credit notes", "975 of the 1,831 change",
                   "20 of them credit notes", "GBP +826.13"):
        assert figure in readme, figure

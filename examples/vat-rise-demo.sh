#!/usr/bin/env bash
# Replay real shop orders (a 5,000-line sample of UCI Online Retail, 2010-12-01 to 2011-02-23)
# under the real UK VAT rise from 17.5% to 20% on 2011-01-04, the way a policy pull request
# would be reviewed, with 37 cancellation lines (31 credit notes, 2010-12-01 to 2011-03-02)
# before and after the rise, 7 of them January returns of December sales (taxed at the
# December sale's 17.5% under both revisions):
#   base = branch before-the-rise: the policies before the rise was announced (17.5% open ended),
#   head = branch main: the policies with the new rate (what is in policies/ today).
# The scratch repository is deleted afterwards: the reports name the revisions by branch and
# commit subject, and the history they read is kept next to them (OUT_DIR/orders.csv).
# Usage: examples/vat-rise-demo.sh [OUT_DIR]    (default: ./vat-rise-report)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="$(realpath -m "${1:-vat-rise-report}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp -r "$here/policies" "$work/policies"
cd "$work"
git init -q -b main . && git config user.email revops@example.com && git config user.name RevOps
git add -A && git commit -qm "Northwind policies as of today"

# The base revision: a branch where the 20% rate was never announced.
git switch -q -c before-the-rise
python3 - <<'PY'
from pathlib import Path
path = Path("policies/tax/uk-vat.yaml")
text = path.read_text()
rise = ("    - {rate: 17.5, effective: {from: 2010-01-01, until: 2011-01-04}}\n"
        "    - {rate: 20, effective: {from: 2011-01-04}}\n")
assert rise in text, "uk-vat.yaml no longer has the 2011 rise in the expected form"
path.write_text(text.replace(rise, "    - {rate: 17.5, effective: {from: 2010-01-01}}\n"))
PY
git commit -qam "UK VAT at 17.5% (before the 2011 rise)"
git switch -q main

# The history: the 5,000-row sample and the demo's cancellations (same `;` shape), kept with
# the reports so that their source still exists.
data="$here/sandbox/data/online_retail"
mkdir -p "$out"
{ cat "$data/online_retail_sample5000.rhozon.csv"; tail -n +2 "$data/demo_cancellations.csv"; } \
  > "$out/orders.csv"

billplane replay --repo "$work" --base before-the-rise --head main \
  --orders "$out/orders.csv" --jobs 2 --out "$out"
echo
echo "HTML report: $out/replay.html   (markdown: $out/replay.md, JSON: $out/replay.json)"

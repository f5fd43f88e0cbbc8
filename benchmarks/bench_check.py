"""Time `load_bundle` and a full `billplane check` run on a generated 1,000-rule repository.

Usage: python benchmarks/bench_check.py [--rules 1000] [--backend cel-expr]
Every CEL expression is distinct (it names its rule), so the compile cache does not help.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from api.sources import DirectorySource
from engine.loader import load_bundle

ENVELOPE = "apiVersion: billplane.dev/v1\nkind: {kind}\nmetadata:\n  name: {name}\n  owner: t\n"

KINDS = [
    ("PricingRule", "spec:\n  priority: {i}\n  when: \"order.customer.segment == 'seg-{i}' && "
                    "order.currency == 'GBP'\"\n  applies_to: \"line.sku == 'SKU-{i}' && "
                    "line.units >= {i}\"\n  effect: {{percent_off: 5}}\n"),
    ("TaxRule", "spec:\n  tax: vat\n  jurisdiction: {{country: GB, region: R{r}}}\n"
                "  applies_to: \"line.product_type != 'service' || line.sku == 'S{i}'\"\n"
                "  rates:\n"
                "    - {{rate: 17.5, effective: {{from: 2010-01-01, until: 2011-01-04}}}}\n"
                "    - {{rate: 20, effective: {{from: 2011-01-04}}}}\n"),
    ("CreditPolicy", "spec:\n  when: \"order.customer.id == 'C-{i}'\"\n  terms: {{net_days: 30}}\n"
                     "  reminders: [{{days_after_due: 7}}]\n"),
    ("RecognitionRule", "spec:\n  applies_to: \"line.sku.startsWith('R{i}')\"\n"
                        "  method: ratable_daily\n"),
    ("ValidationRule", "spec:\n  code: check_{i}\n  when: \"customer.type == 'business'\"\n"
                       "  assert: \"invoice.total_minor < {i}00000 || "
                       "'approval-{i}' in invoice.approvals\"\n  message: too big\n"),
    ("PriceBook", "spec:\n  products:\n    - sku: P-{i}\n      type: usage\n      prices:\n"
                  "        - {{currency: GBP, model: per_unit, unit_amount: 1.25, "
                  "effective: {{until: 2026-01-01}}}}\n"
                  "        - {{currency: GBP, model: graduated, effective: {{from: 2026-01-01}},"
                  " tiers: [{{up_to: 10, unit_amount: 2}}, {{up_to: null, unit_amount: 1}}]}}\n"),
    ("InvoiceSeries", "spec:\n  seller: seller-{i}\n  series: S{i}\n"
                      "  format: \"S{i}-{{number:06d}}\"\n"
                      "  when: \"order.currency == 'EUR' && order.seller == 'seller-{i}'\"\n"),
]


def generate(root: Path, rules: int, per_file: int = 10) -> None:
    """Write `rules` documents of mixed kinds, `per_file` to a file, in a few folders."""
    for start in range(0, rules, per_file):
        docs = []
        for i in range(start, min(start + per_file, rules)):
            kind, body = KINDS[i % len(KINDS)]
            docs.append(ENVELOPE.format(kind=kind, name=f"{kind.lower()}-{i}")
                        + body.format(i=i, r=i % 99))
        folder = root / f"area-{start // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"rules-{start:05d}.yaml").write_text("---\n".join(docs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--backend", default="cel-expr")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "policies"
        generate(root, args.rules)
        files = DirectorySource(root).files()
        cel_fields = sum(t.count("when:") + t.count("applies_to:") + t.count("assert:")
                         for t in (c.decode() for c in files.values()))
        t0 = time.perf_counter()
        bundle = load_bundle(files, backend=args.backend)  # cold: imports, schemas, CEL envs
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        load_bundle(files, backend=args.backend)
        warm = time.perf_counter() - t0
        exe = Path(sys.executable).parent / "billplane"
        t0 = time.perf_counter()
        result = subprocess.run([str(exe), "check", str(root), "--backend", args.backend],
                                capture_output=True, text=True)
        process = time.perf_counter() - t0
        print(f"{len(bundle.docs)} rules in {len(files)} files, {cel_fields} CEL expressions, "
              f"backend {args.backend}")
        print(f"load_bundle: cold {cold:.3f} s, warm {warm:.3f} s")
        print(f"billplane check process: {process:.3f} s (exit {result.returncode}): "
              f"{result.stdout.strip()[:120]}")
        return 0 if result.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Temporary git repositories of policies for sandbox tests."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
from pathlib import Path
from typing import Any

ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
       "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
       "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}

PRICES = """\
apiVersion: billplane.dev/v1
kind: PriceBook
metadata: {name: retail, owner: revops}
spec:
  products:
    - sku: RETAIL-GOODS
      name: Retail goods
      type: one_off
      prices:
        - {currency: GBP, model: per_unit, unit_amount: 1.00}
        - {currency: EUR, model: per_unit, unit_amount: 1.00}
        - {currency: USD, model: per_unit, unit_amount: 1.00}
    - sku: WIDGET
      name: Widget
      type: one_off
      prices:
        - {currency: GBP, model: per_unit, unit_amount: 10.00}
        - {currency: EUR, model: per_unit, unit_amount: 11.50}
        - {currency: USD, model: per_unit, unit_amount: 12.25}
    - sku: SEAT
      name: Seat
      type: subscription
      prices:
        - currency: GBP
          model: graduated
          tiers:
            - {up_to: 10, unit_amount: 10.00}
            - {up_to: null, unit_amount: 8.00}
        - currency: EUR
          model: graduated
          tiers:
            - {up_to: 10, unit_amount: 11.00}
            - {up_to: null, unit_amount: 9.00}
        - currency: USD
          model: graduated
          tiers:
            - {up_to: 10, unit_amount: 12.00}
            - {up_to: null, unit_amount: 10.00}
"""

DISCOUNTS = """\
apiVersion: billplane.dev/v1
kind: PricingRule
metadata: {name: germany-promo, owner: revops}
spec:
  when: "customer.country == 'DE'"
  applies_to: "line.sku == 'WIDGET'"
  effect: {percent_off: 5}
"""

RECOGNITION = """\
apiVersion: billplane.dev/v1
kind: RecognitionRule
metadata: {name: subscriptions, owner: finance}
spec:
  applies_to: "line.product_type == 'subscription'"
  method: ratable_monthly
"""

TAX = """\
apiVersion: billplane.dev/v1
kind: TaxRule
metadata: {name: uk-vat, owner: tax}
spec:
  tax: vat
  jurisdiction: {country: GB}
  rates:
    - {rate: 17.5, effective: {from: 2010-01-01, until: 2011-01-04}}
    - {rate: 20, effective: {from: 2011-01-04}}
---
apiVersion: billplane.dev/v1
kind: TaxRule
metadata: {name: de-vat, owner: tax}
spec:
  tax: vat
  jurisdiction: {country: DE}
  rates:
    - {rate: 19, effective: {from: 2007-01-01}}
---
apiVersion: billplane.dev/v1
kind: TaxRule
metadata: {name: rest-of-world, owner: tax}
spec:
  tax: vat
  jurisdiction: {country: "*"}
  not_taxed: {code: outside_scope, reason: "Not registered for VAT in the customer's country"}
"""

COUPON = """\
apiVersion: billplane.dev/v1
kind: PricingRule
metadata: {name: welcome, owner: revops}
spec:
  coupon: WELCOME10
  effect: {percent_off: 10}
"""

TERMS = """\
apiVersion: billplane.dev/v1
kind: CreditPolicy
metadata: {name: shop-terms, owner: finance}
spec:
  when: "true"
  terms: {net_days: 30}
  early_payment: {days: 10, percent: 2}
  credit_notes: {window_days: 180, max_percent: 100, approval_above_percent: 50}
  reissue: {allowed: true, window_days: 30}
  void: {window_days: 7}
  reminders: [{days_after_due: 7}, {days_after_due: 21}]
"""

SERIES = """\
apiVersion: billplane.dev/v1
kind: InvoiceSeries
metadata: {name: uk-invoices, owner: finance}
spec:
  seller: northwind-uk
  series: NWUK
  format: "NWUK-{year}-{number:06d}"
  gapless: true
"""

OWNERS = """\
apiVersion: billplane.dev/v1
kind: Ownership
metadata: {name: owners, owner: platform}
spec:
  owners:
    - {paths: ["tax/**"], team: "@acme/tax"}
    - {paths: ["pricing/**"], team: "@acme/revops"}
  thresholds:
    - {metric: total_change_percent, above: 1, require: "@acme/finance"}
    - {metric: tax_change_issued, above: 0, require: "@acme/tax"}
"""

BASE_FILES = {"pricing/retail.yaml": PRICES, "tax/vat.yaml": TAX,
              "pricing/coupons.yaml": COUPON, "pricing/promos.yaml": DISCOUNTS,
              "recognition/rules.yaml": RECOGNITION, "credit/terms.yaml": TERMS,
              "series/invoices.yaml": SERIES, "owners.yaml": OWNERS}


def orders(count: int = 300, seed: int = 7) -> list[dict[str, Any]]:
    """Varied orders over the test policies: currencies, skus, countries, dates, coupons,
    periods, credit notes."""
    rnd = random.Random(seed)
    out = []
    for n in range(count):
        day = dt.date(2010, 12, 1) + dt.timedelta(days=rnd.randrange(120))
        lines: list[dict[str, Any]] = []
        for _ in range(rnd.randint(1, 3)):
            sku = rnd.choice(["RETAIL-GOODS", "WIDGET", "SEAT"])
            line: dict[str, Any] = {"sku": sku, "quantity": str(rnd.randint(1, 15))}
            if sku == "RETAIL-GOODS":
                line["unit_price"] = rnd.choice(["0.85", "2.55", "12.75"])
            if sku == "SEAT":
                line["period"] = {"start": day.isoformat(),
                                  "end": (day + dt.timedelta(days=90)).isoformat()}
            lines.append(line)
        order: dict[str, Any] = {
            "id": f"T-{n:04d}", "date": day.isoformat(),
            "currency": rnd.choice(["GBP", "GBP", "GBP", "EUR", "USD"]),
            "seller": "northwind-uk",
            "customer": {"id": f"C{rnd.randrange(40):02d}",
                         "country": rnd.choice(["GB", "GB", "GB", "DE", "FR"]),
                         "type": "consumer"},
            "lines": lines,
        }
        if rnd.random() < 0.2:
            order["coupons"] = ["WELCOME10"]
        if rnd.random() < 0.1:
            order["attributes"] = {"document": "credit_note"}
        out.append(order)
    return out


def write_orders(path: Path, items: list[dict[str, Any]]) -> str:
    """Write orders as JSON Lines; returns the path as a string."""
    path.write_text("".join(json.dumps(o) + "\n" for o in items))
    return str(path)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=ENV, check=True, capture_output=True,
                          text=True).stdout.strip()


def make_repo(path: Path, files: dict[str, str] | None = None) -> str:
    """A repository with policies/ at one commit; returns the commit sha."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    return commit(path, files or BASE_FILES, "base policies")


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    """Write files under policies/ and commit them; returns the sha."""
    for rel, text in files.items():
        target = repo / "policies" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def branch(repo: Path, base: str, name: str, files: dict[str, str]) -> str:
    """Commit `files` on a new branch started at `base`; returns the new sha (made once)."""
    existing = subprocess.run(["git", "rev-parse", "--verify", "-q", name], cwd=repo, env=ENV,
                              capture_output=True, text=True)
    if existing.returncode == 0:
        return existing.stdout.strip()
    git(repo, "checkout", "-q", "-b", name, base)
    sha = commit(repo, files, name)
    git(repo, "checkout", "-q", "main")
    return sha


def replay_on_dask(cfg: Any) -> Any:
    """A replay on a two-worker Dask cluster in this process (skips without dask)."""
    import pytest

    from sandbox.replay import replay

    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, processes=False, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        result = replay(cfg, client=client)
    assert result.engine == "dask"
    return result

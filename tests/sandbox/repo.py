"""Temporary git repositories of policies for sandbox tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

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
    - sku: WIDGET
      name: Widget
      type: one_off
      prices:
        - {currency: GBP, model: per_unit, unit_amount: 10.00}
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
"""

COUPON = """\
apiVersion: billplane.dev/v1
kind: PricingRule
metadata: {name: welcome, owner: revops}
spec:
  coupon: WELCOME10
  effect: {percent_off: 10}
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
              "pricing/coupons.yaml": COUPON, "owners.yaml": OWNERS}


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

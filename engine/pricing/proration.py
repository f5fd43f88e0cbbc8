"""Proration of subscription lines whose service period is shorter than the billing interval."""

from __future__ import annotations

import calendar
import datetime as dt

from engine.model import Period

MONTHS = {"month": 1, "year": 12}
"""Billing interval (`interval:` on a price entry) -> months."""


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day `months` later, clamped to the end of a shorter month (Jan 31 + 1 = Feb 28)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        # as date arithmetic says it (date + timedelta): evaluation locates it
        raise OverflowError("date value out of range")
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def proration(period: Period | None, interval: str | None) -> tuple[int, int] | None:
    """(days served, days in the full interval from the period start), or None for a full charge.

    A period at least as long as the interval is charged in full: longer service is expressed
    by the quantity, not by proration.
    """
    if period is None or interval not in MONTHS:
        return None
    full_end = add_months(period.start, MONTHS[interval])
    if period.end >= full_end:
        return None
    return (period.end - period.start).days, (full_end - period.start).days

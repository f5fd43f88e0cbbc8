"""Pricing: price lookup, the PriceBook models, proration and the pricing stage."""

from __future__ import annotations

from engine.pricing.lines import price_lines
from engine.pricing.models import MODELS, Quote, quote

__all__ = ["MODELS", "Quote", "price_lines", "quote"]

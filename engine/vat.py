"""EU VAT numbers: offline checksum validation (python-stdnum) and member-state lookups."""

from __future__ import annotations

from stdnum.eu import vat as _eu_vat

# ISO 3166-1 codes of the EU member states; stdnum uses VAT prefixes ('el' for Greece, and
# 'xi' for Northern Ireland goods, which is not a country code of its own)
EU_COUNTRIES: frozenset[str] = frozenset(
    "GR" if code == "el" else code.upper()
    for code in _eu_vat.MEMBER_STATES
    if code != "xi"
)


def is_eu(country: str) -> bool:
    """True when `country` (ISO 3166-1 alpha-2) is an EU member state."""
    return country.upper() in EU_COUNTRIES


def is_valid_vat(number: str) -> bool:
    """True when `number` is a well-formed EU VAT number with a correct check digit.

    Offline only (format and checksum); the engine never calls VIES.
    """
    if not number:
        return False
    try:
        return bool(_eu_vat.is_valid(number))
    except Exception:  # stdnum raises for some malformed inputs instead of returning False
        return False


def vat_country(number: str) -> str:
    """ISO country of a valid EU VAT number (`GR` for the `EL` prefix), else `''`."""
    if not is_valid_vat(number):
        return ""
    prefix = _eu_vat.compact(number)[:2].upper()
    return {"EL": "GR", "XI": "GB"}.get(prefix, prefix)

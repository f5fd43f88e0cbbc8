"""Sandbox: replay order histories under two policy revisions, diff them, report in money."""

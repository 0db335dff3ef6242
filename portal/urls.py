"""URL helpers shared by blueprints (kept apart so the language switch need not import the login views)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import url_for


def safe_next(target: str | None) -> str:
    """Redirect only to the portal's own paths.

    Browsers drop tabs and newlines inside URLs and read a backslash as a slash, so "/\t/evil.example" and
    "/\\evil.example" would leave the portal: any control character, space or backslash is refused.
    """
    home = url_for("registry.home")
    if not target or len(target) > 2000 or not target.startswith("/") or target.startswith("//"):
        return home
    if "\\" in target or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in target):
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return home
    return target

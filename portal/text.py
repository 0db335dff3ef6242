"""Text helpers shared by search, duplicates and imports: Russian case folding and ё→е."""

import re

_SPACES = re.compile(r"\s+")


def fold(value: str | None) -> str:
    """Fold a name for comparison and search: trim, collapse spaces, lower case (Cyrillic too), ё→е."""
    if not value:
        return ""
    return _SPACES.sub(" ", value.strip()).lower().replace("ё", "е")


def clean(value: str | None) -> str:
    """Trim and collapse inner spaces, keeping the case as typed."""
    if value is None:
        return ""
    return _SPACES.sub(" ", str(value).strip())


def like_prefix(value: str) -> str:
    """A LIKE pattern for a prefix search, with LIKE's wildcards escaped (escape char is backslash)."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"

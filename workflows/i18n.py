"""`N_` marks a Russian text for the message catalogue where it stays Russian in data (workflow and rule titles).

The portal's own `portal.i18n.N_` is the same identity function; this one keeps `workflows/` free of `portal`.
"""


def N_(text: str) -> str:
    """Mark a text for extraction (pybabel finds `N_`); translated where it is shown."""
    return text

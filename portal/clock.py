"""The portal's notion of "now", in one place so tests and jobs can pin it."""

from datetime import UTC, date, datetime


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


def today() -> date:
    """Today's date for business rules (tenure, re-admission, validation)."""
    return date.today()


def full_years(start: date, on: date) -> int:
    """Full years between two dates (a birthday on 29 February counts on 1 March in other years)."""
    years = on.year - start.year
    if (on.month, on.day) < (start.month, start.day):
        years -= 1
    return max(years, 0)




# The rules in workflows/ need it too and may not import the portal: it lives there, and is the portal's as well.
from workflows.dates import add_years  # noqa: E402, F401

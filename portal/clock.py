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


def add_years(start: date, years: int) -> date:
    """The same calendar day `years` later; 29 February falls on 1 March in a year without one.

    1 March (not 28 February) because the rules that use it count a *full* period: on 28 February of a common year
    the second anniversary of 29 February has not yet come (the same reading as `full_years`).
    """
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February into a common year
        return date(start.year + years, 3, 1)

"""Calendar arithmetic the rules need (pure: no portal imports)."""

from __future__ import annotations

from datetime import date


def add_years(start: date, years: int) -> date:
    """The same calendar day `years` later; 29 February falls on 1 March in a year without one.

    1 March (not 28 February) because the rules that use it count a *full* period: on 28 February of a common year
    the second anniversary of 29 February has not yet come (the same reading as `full_years`).
    """
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February into a common year
        return date(start.year + years, 3, 1)

"""Russian dates and counts as documents write them («23 сентября 2018 г.», «12 лет»), without a request context."""

from __future__ import annotations

from datetime import date, datetime

# Genitive month names: «23 сентября», never the nominative «сентябрь».
MONTHS_GENITIVE = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)


def ru_date(value: date | datetime | None) -> str:
    """«23 сентября 2018 г.»; an empty string for no date (a datetime is written by its date)."""
    if value is None:
        return ""
    return f"{value.day} {MONTHS_GENITIVE[value.month - 1]} {value.year} г."


def plural(n: int, one: str, few: str, many: str) -> str:
    """The Russian plural form for a count: 1 год, 2 года, 5 лет, 11 лет, 21 год."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def years(n: int) -> str:
    """«1 год», «3 года», «12 лет»."""
    return f"{n} {plural(n, 'год', 'года', 'лет')}"

"""Numbers as pages write them: money with kopecks, levels, years with their Russian plural."""

from decimal import Decimal

import pytest

from portal.text import money, percent, years


@pytest.mark.parametrize("n,ru,en", [(0, "0 лет", "0 years"), (1, "1 год", "1 year"), (2, "2 года", "2 years"),
                                     (4, "4 года", "4 years"), (5, "5 лет", "5 years"), (11, "11 лет", "11 years"),
                                     (12, "12 лет", "12 years"), (14, "14 лет", "14 years"), (21, "21 год", "21 years"),
                                     (22, "22 года", "22 years"), (111, "111 лет", "111 years")])
def test_years_take_the_russian_plural(n, ru, en):
    assert years(n) == ru and years(n, "en") == en


def test_money_is_exact_and_grouped():
    assert money(Decimal("6000")) == "6\u00a0000,00"
    assert money(Decimal("1234567.895")) == "1\u00a0234\u00a0567,90"  # kopecks, rounded half-even from the Decimal
    assert money(Decimal("0.1")) == "0,10"
    assert money(Decimal("15000"), "en") == "15,000.00"


def test_percent_has_two_decimals():
    assert percent(Decimal("85.5")) == "85,50" and percent(Decimal("100"), "en") == "100.00"

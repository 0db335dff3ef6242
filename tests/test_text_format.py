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


def test_percent_with_one_decimal_and_plain_numbers_use_the_page_separator():
    """Issue 9 item 15: «100,0 %» not «100.0 %»; the regulation's thresholds «80» / «80,5»; one English format."""
    from portal.text import number

    assert percent(100.0, digits=1) == "100,0" and percent(22.0, "en", digits=1) == "22.0"
    assert percent(Decimal("2.45"), digits=1) == "2,5"  # half up, as people round
    assert number(Decimal("80.00")) == "80" and number(Decimal("80.50")) == "80,5"
    assert number(Decimal("1200")) == "1\u00a0200" and number(Decimal("1200.5"), "en") == "1,200.5"

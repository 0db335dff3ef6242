"""The material-aid regulation as tables: every cell and band edge of SPEC §6, every eligibility rule on and off."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from workflows.aid import (
    PetitionFacts,
    Problem,
    check,
    column,
    is_eligible,
    quote,
    repeat_allowed_from,
    seed_regulation,
    stay_days,
)

REG = seed_regulation()
D = Decimal

# (tenure years, level) -> amount: every cell of the table at both edges of every band, and every level edge.
TABLE = {
    (1, 3): ("3000", "3900", "4800"), (4, 5): ("4000", "5200", "6400"), (6, 10): ("5000", "6500", "8000"),
    (11, 20): ("6000", "7800", "9600"), (21, 30): ("7000", "9100", "11200"), (31, 40): ("8000", "10400", "12800"),
    (41, 50): ("9000", "11700", "14400"),
}
LEVELS = [("79.99", 0), ("80", 0), ("80.00", 0), ("80.01", 1), ("99.99", 1), ("100", 2), ("100.00", 2),
          ("100.01", 2), ("250", 2)]
CASES = [(years, level, D(amounts[col]))
         for (lo, hi), amounts in TABLE.items() for years in (lo, hi) for level, col in LEVELS]
CASES += [(years, level, D("15000")) for years in (51, 60, 80) for level, _ in LEVELS]
CASES += [(0, level, D("0")) for level, _ in LEVELS]


@pytest.mark.parametrize(("years", "level", "amount"), CASES)
def test_every_cell_and_edge(years, level, amount):
    got = quote(REG, years, D(level))
    assert got == amount
    assert got.as_tuple().exponent == -2  # roubles with kopecks


@pytest.mark.parametrize(("level", "col"), [("0", "base"), ("79.99", "base"), ("80", "base"), ("80.01", "above"),
                                            ("99.99", "above"), ("100", "full"), ("120", "full")])
def test_level_columns(level, col):
    assert column(REG, D(level)) == col


def test_band_edges_are_all_covered_once():
    for years in range(0, 120):
        covering = [b for b in REG.bands if b.covers(years)]
        assert len(covering) == (0 if years == 0 else 1), years
    assert [b.title for b in REG.bands][-1] == "более 50"


def test_float_is_refused():
    with pytest.raises(TypeError):
        quote(REG, 5, 85.5)


def test_seed_conditions():
    assert (REG.min_tenure_years, REG.min_stay_days, REG.repeat_interval_days) == (1, 10, 730)
    assert set(REG.excluded_sources) == {"mod", "mvd", "fsb", "social_protection", "tb_service", "rehab_referral"}
    assert set(REG.allowed_payers) == {"member", "union_programme"}


# ---- eligibility ---------------------------------------------------------------------------------------------

START = date(2026, 6, 1)
GOOD = PetitionFacts(tenure_years=5, membership_level=D("85.00"), treatment_start=START,
                     treatment_end=START + timedelta(days=13), voucher_source="purchase", payer="member",
                     filed_on=date(2026, 7, 1))


def rules(facts: PetitionFacts) -> set[str]:
    return {p.rule for p in check(REG, facts)}


def test_good_petition_has_no_problem():
    assert check(REG, GOOD) == []


# (a change to the good petition, the rule it breaks or None when it stays eligible)
RULES = [
    ({"patient": "family"}, "member_only"),
    ({"patient": "member"}, None),
    ({"member_active": False}, "member_active"),
    ({"pays_dues": False}, "pays_dues"),
    ({"tenure_years": 0}, "min_tenure"),
    ({"tenure_years": 1}, None),
    ({"membership_level": None}, "level_known"),
    ({"treatment_end": START + timedelta(days=8)}, "min_stay"),  # 9 days inclusive
    ({"treatment_end": START + timedelta(days=9)}, None),  # 10 days inclusive
    ({"treatment_end": START - timedelta(days=1)}, "dates_order"),
    ({"filed_on": START + timedelta(days=5)}, "after_return"),
    ({"filed_on": START + timedelta(days=13)}, None),  # filed on the day of return
    *[({"voucher_source": s}, "voucher_source")
      for s in ("mod", "mvd", "fsb", "social_protection", "tb_service", "rehab_referral", "nonsense")],
    *[({"voucher_source": s}, None) for s in ("purchase", "union_programme", "employer", "other")],
    ({"payer": "member"}, None),
    ({"payer": "union_programme"}, None),
    *[({"payer": p}, "payer") for p in ("employer", "social_fund", "other", "")],
    ({"previous_approved_starts": (START + timedelta(days=100),)}, "repeat_interval"),
    ({"previous_approved_starts": (START - timedelta(days=2000), START - timedelta(days=30))}, "repeat_interval"),
]


@pytest.mark.parametrize(("change", "rule"), RULES, ids=[f"{list(c)[0]}-{r}" for c, r in RULES])
def test_each_rule_on_and_off(change, rule):
    facts = replace(GOOD, **change)
    problems = check(REG, facts)
    assert rules(facts) == ({rule} if rule else set())
    assert is_eligible(problems) is (rule is None)
    for p in problems:
        assert isinstance(p, Problem) and p.message and any("а" <= c <= "я" for c in p.message.lower())


def test_level_above_100_is_a_data_problem_that_does_not_block():
    problems = check(REG, replace(GOOD, membership_level=D("104.50")))
    assert [(p.rule, p.blocking) for p in problems] == [("level_data", False)]
    assert is_eligible(problems)
    assert quote(REG, 5, D("104.50")) == quote(REG, 5, D("100")) == D("6400.00")


def test_every_problem_is_reported_at_once():
    bad = replace(GOOD, patient="family", tenure_years=0, voucher_source="fsb", payer="employer",
                  treatment_end=START + timedelta(days=3), previous_approved_starts=(START,))
    assert rules(bad) == {"member_only", "min_tenure", "voucher_source", "payer", "min_stay", "repeat_interval"}


@pytest.mark.parametrize(("days", "expected"), [(0, 1), (8, 9), (9, 10), (13, 14)])
def test_stay_counts_both_ends(days, expected):
    assert stay_days(START, START + timedelta(days=days)) == expected


def test_regulation_is_data():
    """Another region's regulation with other numbers changes the answers without code."""
    other = replace(REG, min_stay_days=7, repeat_interval_days=365, level_base_max=D("70"))
    assert quote(other, 5, D("75")) == D("5200.00")
    assert rules(replace(GOOD, treatment_end=START + timedelta(days=6))) == {"min_stay"}
    assert check(other, replace(GOOD, treatment_end=START + timedelta(days=6))) == []


def test_readmission_restarts_tenure(app, world):
    """The registry's tenure after leaving and re-admission counts from re-admission only (п. 1.2)."""
    from portal.extensions import db
    from portal.registry import operations as ops
    from portal.registry.models import EventKind

    m = world.members["a"]  # joined 2010-09-01
    on = date(2025, 9, 1)
    assert m.tenure_years(on) == 15
    ops.end_membership(None, m, EventKind.LEFT, date(2024, 1, 10))
    ops.readmit_member(None, m, date(2025, 3, 1))
    db.session.commit()
    assert m.tenure_years(on) == 0
    facts = replace(GOOD, tenure_years=m.tenure_years(on))
    assert rules(facts) == {"min_tenure"}
    assert quote(REG, m.tenure_years(date(2026, 3, 1)), D("85")) == D("3900.00")


# «Не чаще 1 раза в 2 года» (seed 004 п. 3.3) is a calendar rule: the day before the second anniversary of the previous
# treatment's start is refused, the anniversary itself and the day after are allowed — in spans of 730 days (no
# 29 February inside) and of 731 days (one inside), and from a 29 February (anniversary: 1 March of a common year).
# (previous start, the anniversary, the day counts of day-before/on/after in that span)
ANNIVERSARIES = [
    (date(2024, 6, 1), date(2026, 6, 1), (729, 730, 731)),  # no 29 February in between
    (date(2023, 6, 1), date(2025, 6, 1), (730, 731, 732)),  # 29.02.2024 in between: 730 days is one day early
    (date(2023, 3, 1), date(2025, 3, 1), (730, 731, 732)),
    (date(2022, 3, 1), date(2024, 3, 1), (730, 731, 732)),  # the day before is 29.02.2024
    (date(2024, 2, 29), date(2026, 3, 1), (730, 731, 732)),  # from a leap day into a common year: 1 March
    (date(2026, 2, 28), date(2028, 2, 28), (729, 730, 731)),  # the day after is 29.02.2028
    (date(2026, 3, 1), date(2028, 3, 1), (730, 731, 732)),  # the day before is 29.02.2028
    (date(2028, 2, 29), date(2030, 3, 1), (730, 731, 732)),
    (date(2025, 12, 31), date(2027, 12, 31), (729, 730, 731)),
]
ANNIVERSARY_CASES = [(prev, anniv + timedelta(days=shift), days[shift + 1], shift >= 0)
                     for prev, anniv, days in ANNIVERSARIES for shift in (-1, 0, 1)]


@pytest.mark.parametrize(("previous", "start", "days", "allowed"), ANNIVERSARY_CASES,
                         ids=[f"{p}->{s}({d}d)-{'ok' if a else 'refused'}" for p, s, d, a in ANNIVERSARY_CASES])
def test_repeat_interval_is_two_calendar_years(previous, start, days, allowed):
    assert (start - previous).days == days  # the table says which day counts it covers
    facts = replace(GOOD, treatment_start=start, treatment_end=start + timedelta(days=13),
                    filed_on=start + timedelta(days=20), previous_approved_starts=(previous,))
    assert rules(facts) == (set() if allowed else {"repeat_interval"})
    # the same pair the other way round: an approved trip *after* this one blocks it just the same
    earlier = replace(GOOD, treatment_start=previous, treatment_end=previous + timedelta(days=13),
                      filed_on=previous + timedelta(days=20), previous_approved_starts=(start,))
    assert rules(earlier) == (set() if allowed else {"repeat_interval"})


@pytest.mark.parametrize(("previous", "first_allowed"), [
    (date(2024, 2, 29), date(2026, 3, 1)), (date(2024, 2, 28), date(2026, 2, 28)), (date(2023, 6, 1), date(2025, 6, 1)),
    (date(2027, 2, 28), date(2029, 2, 28)), (date(2026, 2, 28), date(2028, 2, 28)),
])
def test_repeat_allowed_from(previous, first_allowed):
    assert repeat_allowed_from(REG, previous) == first_allowed


def test_repeat_interval_message_names_the_first_allowed_day():
    facts = replace(GOOD, treatment_start=date(2026, 2, 28), treatment_end=date(2026, 3, 13),
                    filed_on=date(2026, 3, 20), previous_approved_starts=(date(2024, 2, 29),))
    (found,) = check(REG, facts)
    assert found.rule == "repeat_interval" and "29.02.2024" in found.message and "01.03.2026" in found.message
    assert "2 г." in found.message


def test_an_interval_not_in_whole_years_counts_days():
    """A regulation of another region may count plain days (here 100): no calendar reading then."""
    other = replace(REG, repeat_interval_days=100)
    assert repeat_allowed_from(other, date(2024, 2, 1)) == date(2024, 5, 11)
    facts = replace(GOOD, previous_approved_starts=(START - timedelta(days=99),))
    assert {p.rule for p in check(other, facts)} == {"repeat_interval"}
    assert check(other, replace(GOOD, previous_approved_starts=(START - timedelta(days=100),))) == []

"""Material aid for sanatorium treatment (SPEC §6, seed 004): the regulation as a plain value, the amount and the
eligibility rules as pure functions anyone can call without a database.

- `quote(regulation, tenure_years, membership_level)` — the amount in roubles (Decimal);
- `check(regulation, petition)` — every eligibility problem, each naming its rule and saying in Russian what is wrong;
- `seed_regulation()` — seed 004's regulation exactly as SPEC §6 fixes it: the *Saratov* organisation's (its
  addressee, its programme «ООО «Саратовкурорт»»);
- `template_regulation(addressee, programme_name)` — what another region starts its own from: seed 004's table and
  conditions with that region's addressee and programme (a region is never given another's).

Decisions SPEC leaves open (written here and in the README):
- Level columns: up to and including 80 % is the base column; above 80 % and below 100 % is +30 %; 100 % is +60 %.
  A level above 100 % (more members than staff: bad staff data) counts as 100 % and is reported as a non-blocking
  data problem (`Problem.blocking is False`), so the chair sees it but may still file.
- The level is the primary's active members ÷ staff (students for a students' primary) on the filing date, in per
  cent truncated (not rounded) to two decimals, so 99.996 % never becomes 100 %. An unknown staff count blocks filing.
- The repeat interval («не чаще 1 раза в 2 года», seed 004 п. 3.3) is a calendar rule on treatment starts: after
  an approved (or paid) aid whose treatment started on day D, the next treatment may start on the same calendar day
  two years later or after it (`repeat_allowed_from`); a day earlier is refused. A start on 29 February is followed
  by 1 March two years later when that year has no 29 February (the full two years end with 28 February; the same
  reading as re-admission and tenure). The regulation stores the interval in days as before; a whole number of
  years of 365 days (730 = 2 years, the seed's value) is read as that many calendar years, any other number as
  plain days. Starts after this one count too (the later start is checked against the earlier one's
  anniversary), so filing an older trip late cannot sidestep the rule.
- The stay counts both the first and the last day (10 June – 19 June is 10 days).
- Seed 004 п.4.1: the petition is filed after the return, so a treatment ending after the filing date is a problem.
- A tenure below the first band (0 years) quotes 0.00; the eligibility rule on minimum tenure says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from workflows.dates import add_years
from workflows.i18n import N_

# Where a voucher came from (seed 004 п.3.1, п.3.5.2). Codes are stored; titles are shown.
VOUCHER_SOURCES: dict[str, str] = {
    "purchase": N_("куплена самостоятельно (санаторий, турфирма)"),
    # The programme is the region's own (AidRegulation.programme_name); pages name it beside this title.
    "union_programme": N_("по профсоюзной программе региональной организации"),
    "mod": N_("по линии Министерства обороны"),
    "mvd": N_("по линии МВД России"),
    "fsb": N_("по линии ФСБ России"),
    "social_protection": N_("через органы социальной поддержки населения"),
    "tb_service": N_("в специализированное учреждение для работников фтизиатрической службы"),
    "rehab_referral": N_("в реабилитационное отделение по направлению лечебного учреждения"),
    "employer": N_("выделена работодателем"),
    "other": N_("иное"),
}
# Who paid for it (seed 004 п.3.1).
PAYERS: dict[str, str] = {
    "member": N_("член Профсоюза (за свой счёт)"),
    "union_programme": N_("по профсоюзной программе региональной организации"),
    "employer": N_("работодатель"),
    "social_fund": N_("Социальный фонд / органы соцзащиты"),
    "other": N_("иное"),
}
# Who was treated: only the member, never a family member (seed 004 п.3.4).
PATIENTS: dict[str, str] = {"member": N_("сам член Профсоюза"), "family": N_("член семьи")}

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Band:
    """A tenure band: full years from `min_years` to `max_years` inclusive (None: no upper end), and its amounts
    for the three membership-level columns (base, above the base threshold, full)."""

    min_years: int
    max_years: int | None
    base: Decimal
    above: Decimal
    full: Decimal

    def covers(self, years: int) -> bool:
        return years >= self.min_years and (self.max_years is None or years <= self.max_years)

    @property
    def title(self) -> str:
        if self.max_years is None:
            return f"более {self.min_years - 1}"
        return f"{self.min_years}–{self.max_years}"


@dataclass(frozen=True)
class Regulation:
    """A regional organisation's regulation on material aid: the table and the conditions, as plain data."""

    bands: tuple[Band, ...]
    level_base_max: Decimal = Decimal("80")  # up to and including: the base column
    level_full: Decimal = Decimal("100")  # this level (and above, counted as it): the full column
    min_tenure_years: int = 1
    min_stay_days: int = 10
    repeat_interval_days: int = 730
    excluded_sources: tuple[str, ...] = ("mod", "mvd", "fsb", "social_protection", "tb_service", "rehab_referral")
    allowed_payers: tuple[str, ...] = ("member", "union_programme")
    title: str = "Положение об оказании единовременной материальной помощи членам Профсоюза на санаторно-курортное лечение"
    addressee: str = ""  # form No. 1's addressee block, in the dative, lines as on the form
    programme_name: str = ""  # the region's union voucher programme (seed 004 п. 3.1), e.g. «ООО «Саратовкурорт»»

    def band_for(self, years: int) -> Band | None:
        return next((b for b in self.bands if b.covers(years)), None)


@dataclass(frozen=True)
class Problem:
    """One broken rule: its id, a Russian message, and whether it stops filing (a data warning does not).

    `msgid` and `params` keep the message's catalogue text and values, so a page shows it in the interface
    language (`label`) while `message` stays Russian for callers of the pure functions.
    """

    rule: str
    message: str
    blocking: bool = True
    msgid: str = field(default="", compare=False)
    params: tuple = field(default=(), compare=False)

    @property
    def label(self) -> str:
        """The message in the interface language; title values (a voucher's source) are translated too."""
        if not self.msgid:
            return self.message
        from flask_babel import gettext

        values = {k: gettext(v) if isinstance(v, str) and v else v for k, v in self.params}
        return gettext(self.msgid, **values)


def problem(rule: str, msgid: str, blocking: bool = True, **params) -> Problem:
    """A Problem from a catalogue text (marked with N_ by the caller) and its %(name)s values."""
    return Problem(rule, msgid % params if params else msgid, blocking, msgid, tuple(params.items()))


@dataclass(frozen=True)
class PetitionFacts:
    """What the rules read about a petition: the member's facts from the registry and the treatment facts."""

    tenure_years: int
    membership_level: Decimal | None  # per cent on the filing date; None when the staff count is unknown
    treatment_start: date
    treatment_end: date
    voucher_source: str
    payer: str
    patient: str = "member"
    member_active: bool = True
    pays_dues: bool = True
    filed_on: date | None = None
    previous_approved_starts: tuple[date, ...] = field(default_factory=tuple)


def _money(value) -> Decimal:
    return Decimal(value).quantize(CENT)


# Form No. 1's addressee as seed 004 prints it (the dative case, line by line).
SEED_ADDRESSEE = ("Председателю\nСаратовской областной\nорганизации Профсоюза\nработников\nздравоохранения РФ\n"
                  "Прохорову С.А.")


SEED_PROGRAMME = "ООО «Саратовкурорт»"


def seed_regulation() -> Regulation:
    """Seed 004's regulation (SPEC §6) — the Saratov organisation's: eight bands, three level columns, flat 15 000
    over 50 years, its addressee and its union programme. Another region starts from `template_regulation`."""
    return replace(template_regulation(SEED_ADDRESSEE), programme_name=SEED_PROGRAMME)


def template_regulation(addressee: str, programme_name: str = "") -> Regulation:
    """The template a region's office starts its own regulation from: seed 004's table and conditions, with the
    region's own addressee block (and programme, if it has one) — nothing of Saratov's."""
    table = [(1, 3, 3000, 3900, 4800), (4, 5, 4000, 5200, 6400), (6, 10, 5000, 6500, 8000),
             (11, 20, 6000, 7800, 9600), (21, 30, 7000, 9100, 11200), (31, 40, 8000, 10400, 12800),
             (41, 50, 9000, 11700, 14400), (51, None, 15000, 15000, 15000)]
    return Regulation(bands=tuple(Band(lo, hi, _money(a), _money(b), _money(c)) for lo, hi, a, b, c in table),
                      addressee=addressee, programme_name=programme_name)


def effective_level(regulation: Regulation, membership_level: Decimal) -> Decimal:
    """The level the table reads: above the full level (bad staff data) counts as the full level."""
    level = Decimal(membership_level)
    return min(level, regulation.level_full)


def column(regulation: Regulation, membership_level: Decimal) -> str:
    """Which column of the table a level falls in: 'base', 'above' or 'full'."""
    level = effective_level(regulation, membership_level)
    if level >= regulation.level_full:
        return "full"
    if level > regulation.level_base_max:
        return "above"
    return "base"


def quote(regulation: Regulation, tenure_years: int, membership_level: Decimal) -> Decimal:
    """The amount of aid in roubles for full years of tenure and the primary's level in per cent (0.00: no band)."""
    if isinstance(membership_level, float):
        raise TypeError("membership_level must be a Decimal, never a float")
    band = regulation.band_for(int(tenure_years))
    if band is None:
        return Decimal("0.00")
    return _money(getattr(band, column(regulation, membership_level)))


def stay_days(start: date, end: date) -> int:
    """Days of stay counting the first and the last day."""
    return (end - start).days + 1


def check(regulation: Regulation, petition: PetitionFacts) -> list[Problem]:
    """Every eligibility problem of a petition under a regulation (an empty list: eligible)."""
    p, r = petition, regulation
    found: list[Problem] = []
    if p.patient != "member":
        found.append(problem("member_only", N_("Материальная помощь не распространяется на членов семьи (п. 3.4).")))
    if not p.member_active:
        found.append(problem("member_active", N_("Человек не состоит на учёте в Профсоюзе.")))
    if not p.pays_dues:
        found.append(problem("pays_dues", N_("Член Профсоюза не уплачивает членские взносы регулярно (п. 1.2).")))
    if p.tenure_years < r.min_tenure_years:
        found.append(problem("min_tenure", N_("Профсоюзный стаж %(years)s лет: нужно не менее %(min)s полного года "
                                              "(п. 3.2)."), years=p.tenure_years, min=r.min_tenure_years))
    if p.membership_level is None:
        found.append(problem("level_known", N_("Уровень профсоюзного членства не рассчитан: в паспорте первичной "
                                               "организации не указана численность работающих (обучающихся).")))
    elif Decimal(p.membership_level) > r.level_full:
        found.append(problem("level_data", N_("Уровень членства %(level)s %% больше 100 %%: членов больше, чем "
                                              "работающих. Проверьте численность в паспорте; сумма рассчитана как "
                                              "при 100 %%."), blocking=False, level=p.membership_level))
    if p.treatment_end < p.treatment_start:
        found.append(problem("dates_order", N_("Дата окончания лечения раньше даты начала.")))
    else:
        days = stay_days(p.treatment_start, p.treatment_end)
        if days < r.min_stay_days:
            found.append(problem("min_stay", N_("Срок пребывания %(days)s дн.: нужно не менее %(min)s дней "
                                                "(п. 3.5.1)."), days=days, min=r.min_stay_days))
    if p.filed_on is not None and p.treatment_end > p.filed_on:
        found.append(problem("after_return", N_("Ходатайство подаётся после возвращения из санатория (п. 4.1): "
                                                "лечение ещё не окончено.")))
    if p.voucher_source in r.excluded_sources:
        title = VOUCHER_SOURCES.get(p.voucher_source, p.voucher_source)
        found.append(problem("voucher_source", N_("Путёвка получена %(source)s: помощь не предоставляется "
                                                  "(п. 3.5.2)."), source=title))
    elif p.voucher_source not in VOUCHER_SOURCES:
        found.append(problem("voucher_source", N_("Не указано, как получена путёвка.")))
    if p.payer not in r.allowed_payers:
        if r.programme_name and "union_programme" in r.allowed_payers:
            found.append(problem("payer", N_("Путёвка должна быть приобретена и оплачена самим членом Профсоюза или "
                                             "по профсоюзной программе (%(programme)s) (п. 3.1)."),
                                 programme=r.programme_name))
        else:
            found.append(problem("payer", N_("Путёвка должна быть приобретена и оплачена самим членом Профсоюза или "
                                             "по профсоюзной программе региональной организации (п. 3.1).")))
    for previous in p.previous_approved_starts:
        earlier, later = sorted((previous, p.treatment_start))
        allowed = repeat_allowed_from(r, earlier)
        if later < allowed:
            if r.repeat_interval_days % 365 == 0 and r.repeat_interval_days:
                found.append(problem("repeat_interval", N_("Помощь уже оказана на лечение, начавшееся %(on)s: "
                                                           "следующее лечение можно начать не раньше %(allowed)s "
                                                           "(не чаще 1 раза в %(years)s г., п. 3.3)."),
                                     on=f"{previous:%d.%m.%Y}", allowed=f"{allowed:%d.%m.%Y}",
                                     years=r.repeat_interval_days // 365))
            else:
                found.append(problem("repeat_interval", N_("Помощь уже оказана на лечение, начавшееся %(on)s: между "
                                                           "началами лечения нужно не менее %(days)s дней (п. 3.3)."),
                                     on=f"{previous:%d.%m.%Y}", days=r.repeat_interval_days))
            break
    return found


def repeat_allowed_from(regulation: Regulation, previous_start: date) -> date:
    """The first day a treatment may start after aid for a treatment that started on `previous_start`.

    An interval of N·365 days means N calendar years (seed 004: «не чаще 1 раза в 2 года» is stored as 730): the
    same calendar day N years later, 29 February → 1 March of a common year. Any other interval is plain days.
    """
    days = regulation.repeat_interval_days
    if days and days % 365 == 0:
        return add_years(previous_start, days // 365)
    return date.fromordinal(previous_start.toordinal() + days)


def is_eligible(problems: list[Problem]) -> bool:
    """No blocking problem (a data warning alone does not stop a petition)."""
    return not any(pr.blocking for pr in problems)


def with_changes(regulation: Regulation, **changes) -> Regulation:
    """A copy with some fields changed (a new version of a regulation is a new value)."""
    return replace(regulation, **changes)

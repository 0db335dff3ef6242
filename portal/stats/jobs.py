"""The statistics' daily job: the kept age bands follow the calendar (portal.stats.counts.advance_ages).

Runs at 00:05 Moscow; it moves only the members whose birthday crossed a band's boundary since the kept date (an
index range on birth dates), so it takes well under a second at 5 M members. Catching up after downtime is one run
to today ("latest"): the move is computed between the kept date and today, whatever the gap. A live report never
waits for it: until it has run it adds the same difference for its own date itself.
"""

from __future__ import annotations

from portal.extensions import db
from portal.i18n import N_
from portal.jobs.schedule import Daily, register

JOB_NAME = "stats_age_bands"


def daily_age_bands(slot) -> str:
    from portal.stats.counts import advance_ages, age_state

    moved = advance_ages()
    state = age_state()
    db.session.commit()
    if moved < 0:
        return f"Границы возрастных групп изменились: счётчики пересчитаны на {state.as_of:%d.%m.%Y}."
    return f"Возрастные группы на {state.as_of:%d.%m.%Y}: перешли в следующую группу {moved}."


register(JOB_NAME, Daily(hour=0, minute=5), daily_age_bands,
         title=N_("Возрастные группы статистики: переход членов Профсоюза в следующую группу в день рождения"),
         catch_up="latest")

"""Scheduled consent work: the daily transfer to the bonus programme (SPEC §4: within one day)."""

from portal.consent.operations import export_to_bonus_programme
from portal.i18n import N_
from portal.jobs.schedule import Daily, register


def daily_bonus_export(slot) -> str:
    """Export new and withdrawn consents; running again the same day exports nothing twice."""
    export = export_to_bonus_programme()
    if export is None:
        return "Новых согласий и отзывов нет."
    return f"Выгрузка № {export.id}: добавлено {export.rows_added}, отозвано {export.rows_withdrawn}."


register("bonus_export", Daily(hour=1, minute=0), daily_bonus_export,
         title=N_("Ежедневная передача согласий в ПРОФКАРДС"), catch_up="latest")

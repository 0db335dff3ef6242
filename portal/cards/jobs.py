"""Scheduled card work: requests are processed on the 1st and the 15th of each month (seed 002, step 8)."""

from portal.cards.operations import process_due_requests
from portal.i18n import N_
from portal.jobs.schedule import MonthDays, register


def process_card_requests(slot) -> str:
    """Process every request submitted before this cut-off, once."""
    batch = process_due_requests(slot, slot.date())
    if not batch.requests:
        return "Отправленных заявок не было."
    return f"Партия № {batch.id}: заявок {batch.requests}, карт {batch.cards}."


register("card_processing", MonthDays(days=(1, 15), hour=0, minute=0), process_card_requests,
         title=N_("Обработка заявок на выпуск ЭПБ (1 и 15 числа)"), catch_up="each")

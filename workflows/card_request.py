"""Workflow of a card request (заявка на выпуск ЭПБ, SPEC §5, seed 002 steps 8–10).

draft → submitted → processed → shipped → received → issued. «получены» is the regional office's record that the
shipment arrived; it moves every shipped card of the request to «получен», and only then may chairs mark cards ВЫДАН.
"""

from workflows.i18n import N_
from workflows.roles import CHAIRS, REGIONAL_OFFICE, SYSTEM

DEFINITION = {
    "name": "card_request",
    "title": N_("Заявка на выпуск электронных профсоюзных билетов"),
    "description": N_("Заявки обрабатываются 1 и 15 числа каждого месяца; карты отправляются экспресс-почтой "
                   "в региональную организацию в течение 14 календарных дней."),
    "state_attr": "state",
    "version_attr": "version",
    "initial": "draft",
    "states": {
        "draft": {"meaning": "neutral", "title": N_("черновик"), "description": N_("Председатель добавляет членов Профсоюза с согласием и без билета.")},
        "submitted": {"meaning": "waiting", "title": N_("отправлена"), "description": N_("Добавлять больше нельзя; ждёт ближайшего 1 или 15 числа.")},
        "processed": {"meaning": "waiting", "title": N_("обработана"), "description": N_("Номера карт присвоены, реестр передан изготовителю.")},
        "shipped": {"meaning": "waiting", "title": N_("карты отправлены"), "description": N_("Карты в пути в региональную организацию.")},
        "received": {"meaning": "waiting", "title": N_("карты получены"), "description": N_("Региональная организация получила карты; "
                                                                       "председатели выдают их членам Профсоюза.")},
        "issued": {"meaning": "done", "title": N_("выдана"), "description": N_("Все карты заявки выданы членам Профсоюза.")},
        "cancelled": {"meaning": "refused", "title": N_("отменена"), "description": N_("Заявка отменена до обработки.")},
    },
    "transitions": [
        {"name": "submit", "title": N_("Отправить заявку"), "source": "draft", "dest": "submitted", "roles": CHAIRS,
         "guards": ["request_has_items", "request_members_eligible"], "effects": ["request_submitted"]},
        {"name": "cancel", "title": N_("Отменить заявку"), "source": ["draft", "submitted"], "dest": "cancelled",
         "roles": CHAIRS + SYSTEM, "effects": ["request_cancelled"],
         "description": N_("Председатель отменяет заявку до обработки; задание 1 и 15 числа отменяет заявку, в "
                           "которой не осталось никого с действующим согласием.")},
        {"name": "process", "title": N_("Обработать"), "source": "submitted", "dest": "processed", "roles": SYSTEM,
         "effects": ["request_processed"], "description": N_("Присвоить номера карт (выполняет задание 1 и 15 числа).")},
        {"name": "ship", "title": N_("Отметить отправку карт"), "source": "processed", "dest": "shipped",
         "roles": REGIONAL_OFFICE, "guards": ["tracking_is_given"], "effects": ["request_shipped"]},
        {"name": "receive", "title": N_("Отметить получение карт"), "source": "shipped", "dest": "received",
         "roles": REGIONAL_OFFICE, "guards": ["received_on_is_valid"], "effects": ["request_received"],
         "description": N_("Региональная организация получила отправление; карты можно выдавать.")},
        {"name": "issue", "title": N_("Все карты выданы"), "source": "received", "dest": "issued", "roles": SYSTEM,
         "guards": ["all_cards_issued"], "effects": ["request_issued"]},
    ],
}

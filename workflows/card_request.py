"""Workflow of a card request (заявка на выпуск ЭПБ, SPEC §5, seed 002 steps 8–10)."""

from workflows.roles import CHAIRS, REGIONAL_OFFICE, SYSTEM

DEFINITION = {
    "name": "card_request",
    "title": "Заявка на выпуск электронных профсоюзных билетов",
    "description": "Заявки обрабатываются 1 и 15 числа каждого месяца; карты отправляются экспресс-почтой "
                   "в региональную организацию в течение 14 календарных дней.",
    "state_attr": "state",
    "version_attr": "version",
    "initial": "draft",
    "states": {
        "draft": {"title": "черновик", "description": "Председатель добавляет членов Профсоюза с согласием и без билета."},
        "submitted": {"title": "отправлена", "description": "Добавлять больше нельзя; ждёт ближайшего 1 или 15 числа."},
        "processed": {"title": "обработана", "description": "Номера карт присвоены, реестр передан изготовителю."},
        "shipped": {"title": "карты отправлены", "description": "Карты в пути в региональную организацию."},
        "issued": {"title": "выдана", "description": "Все карты заявки выданы членам Профсоюза."},
        "cancelled": {"title": "отменена", "description": "Заявка отменена до обработки."},
    },
    "transitions": [
        {"name": "submit", "title": "Отправить заявку", "source": "draft", "dest": "submitted", "roles": CHAIRS,
         "guards": ["request_has_items", "request_members_eligible"], "effects": ["request_submitted"]},
        {"name": "cancel", "title": "Отменить заявку", "source": ["draft", "submitted"], "dest": "cancelled",
         "roles": CHAIRS, "effects": ["request_cancelled"]},
        {"name": "process", "title": "Обработать", "source": "submitted", "dest": "processed", "roles": SYSTEM,
         "effects": ["request_processed"], "description": "Присвоить номера карт (выполняет задание 1 и 15 числа)."},
        {"name": "ship", "title": "Отметить отправку карт", "source": "processed", "dest": "shipped",
         "roles": REGIONAL_OFFICE, "guards": ["tracking_is_given"], "effects": ["request_shipped"]},
        {"name": "issue", "title": "Все карты выданы", "source": "shipped", "dest": "issued", "roles": SYSTEM,
         "guards": ["all_cards_issued"], "effects": ["request_issued"]},
    ],
}

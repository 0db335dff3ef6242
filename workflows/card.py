"""Workflow of one card (SPEC §5): ordered → produced → shipped → ВЫДАН; lost, blocked, reissued."""

from workflows.roles import CHAIRS, REGIONAL_OFFICE, SYSTEM

DEFINITION = {
    "name": "card",
    "title": "Электронный профсоюзный билет",
    "state_attr": "state",
    "version_attr": "version",
    "initial": "ordered",
    "states": {
        "ordered": {"title": "заказан"},
        "produced": {"title": "изготовлен"},
        "shipped": {"title": "отправлен"},
        "issued": {"title": "ВЫДАН", "description": "Председатель выдал карту члену Профсоюза."},
        "lost": {"title": "утерян"},
        "blocked": {"title": "заблокирован"},
        "reissued": {"title": "перевыпущен", "description": "Вместо этой карты заказана новая."},
    },
    "transitions": [
        {"name": "produce", "title": "Изготовлен", "source": "ordered", "dest": "produced",
         "roles": SYSTEM + REGIONAL_OFFICE, "effects": ["card_state_to_member"]},
        {"name": "ship", "title": "Отправлен", "source": ["ordered", "produced"], "dest": "shipped",
         "roles": SYSTEM + REGIONAL_OFFICE, "effects": ["card_state_to_member"]},
        {"name": "hand_over", "title": "Выдать (ВЫДАН)", "source": "shipped", "dest": "issued", "roles": CHAIRS,
         "guards": ["member_is_active"], "effects": ["card_state_to_member", "card_issued"]},
        {"name": "lose", "title": "Отметить утерю", "source": ["shipped", "issued"], "dest": "lost", "roles": CHAIRS,
         "effects": ["card_state_to_member"], "needs_comment": True},
        {"name": "block", "title": "Заблокировать", "source": ["ordered", "produced", "shipped", "issued"],
         "dest": "blocked", "roles": REGIONAL_OFFICE, "effects": ["card_state_to_member"], "needs_comment": True},
        {"name": "reissue", "title": "Перевыпустить", "source": ["lost", "blocked"], "dest": "reissued",
         "roles": CHAIRS, "guards": ["member_is_active"], "effects": ["card_reissued"],
         "description": "Член Профсоюза снова может быть включён в заявку на выпуск."},
    ],
}

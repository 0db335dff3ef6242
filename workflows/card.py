"""Workflow of one card (SPEC §5): ordered → produced → shipped → received → ВЫДАН; lost, blocked, reissued.

«получен» (received) is the regional office's record that the shipment arrived (seed 002 step 10): a chair can mark a
card ВЫДАН only after it, so no card is handed over on paper while it is still in the post.
"""

from workflows.i18n import N_
from workflows.roles import CHAIRS, REGIONAL_OFFICE, SYSTEM

DEFINITION = {
    "name": "card",
    "title": N_("Электронный профсоюзный билет"),
    "state_attr": "state",
    "version_attr": "version",
    "initial": "ordered",
    "states": {
        "ordered": {"meaning": "waiting", "title": N_("заказан")},
        "produced": {"meaning": "waiting", "title": N_("изготовлен")},
        "shipped": {"meaning": "waiting", "title": N_("отправлен"), "description": N_("Карта в пути в региональную организацию.")},
        "received": {"meaning": "waiting", "title": N_("получен"), "description": N_("Региональная организация получила карту; её можно "
                                                                "выдать члену Профсоюза.")},
        "issued": {"meaning": "done", "title": N_("ВЫДАН"), "description": N_("Председатель выдал карту члену Профсоюза.")},
        "lost": {"meaning": "refused", "title": N_("утерян")},
        "blocked": {"meaning": "refused", "title": N_("заблокирован")},
        "reissued": {"meaning": "neutral", "title": N_("перевыпущен"), "description": N_("Вместо этой карты заказана новая.")},
    },
    "transitions": [
        {"name": "produce", "title": N_("Изготовлен"), "source": "ordered", "dest": "produced",
         "roles": SYSTEM + REGIONAL_OFFICE, "effects": ["card_state_to_member"]},
        {"name": "ship", "title": N_("Отправлен"), "source": ["ordered", "produced"], "dest": "shipped",
         "roles": SYSTEM + REGIONAL_OFFICE, "effects": ["card_state_to_member"]},
        {"name": "receive", "title": N_("Получен"), "source": "shipped", "dest": "received",
         "roles": SYSTEM + REGIONAL_OFFICE, "effects": ["card_state_to_member"],
         "description": N_("Региональная организация получила отправление с картой.")},
        {"name": "hand_over", "title": N_("Выдать (ВЫДАН)"), "source": "received", "dest": "issued", "roles": CHAIRS,
         "guards": ["member_is_active"], "effects": ["card_state_to_member", "card_issued"],
         "description": N_("Председатель выдал карту члену Профсоюза (после того, как регион отметил получение).")},
        {"name": "lose", "title": N_("Отметить утерю"), "source": ["shipped", "received", "issued"], "dest": "lost",
         "roles": CHAIRS, "effects": ["card_state_to_member"], "needs_comment": True},
        {"name": "block", "title": N_("Заблокировать"), "source": ["ordered", "produced", "shipped", "received", "issued"],
         "dest": "blocked", "roles": REGIONAL_OFFICE, "effects": ["card_state_to_member"], "needs_comment": True},
        {"name": "reissue", "title": N_("Перевыпустить"), "source": ["lost", "blocked"], "dest": "reissued",
         "roles": CHAIRS, "guards": ["member_is_active"], "effects": ["card_reissued"],
         "description": N_("Член Профсоюза снова может быть включён в заявку на выпуск.")},
    ],
}

"""Workflow of a petition for material aid for sanatorium treatment (ходатайство, SPEC §6, seed 004 п.4).

Filing is not a transition: a petition is created in `filed` by the primary's chair, and only an eligible one
(`workflows.aid.check` without a blocking problem) is created at all. From there the regional office reviews it,
the presidium decides it, and the accountant pays it. The regional chairman's override (п.4.5) approves a filed or
reviewed petition on other conditions and in another amount, with a written reason; it is the only way an
ineligible case is granted, and it is marked as an override wherever the petition shows.

Central administrators see every petition but act on none: the aid is the regional organisation's money.
"""

from workflows.i18n import N_
from workflows.roles import ACCOUNTANTS, AID_REVIEWERS, PRESIDIUM, REGIONAL_CHAIRMAN

DEFINITION = {
    "name": "aid_petition",
    "title": N_("Ходатайство о материальной помощи на санаторно-курортное лечение"),
    "description": N_("Ходатайство подаёт председатель первичной организации после возвращения члена Профсоюза из "
                   "санатория; аппарат проверяет документы, Президиум принимает решение, бухгалтерия выплачивает."),
    "state_attr": "state",
    "version_attr": "version",
    "initial": "filed",
    "states": {
        "filed": {"meaning": "waiting", "title": N_("подано"), "description": N_("Председатель первичной организации подал ходатайство; "
                                                    "аппарат проверяет документы и условия Положения.")},
        "reviewed": {"meaning": "waiting", "title": N_("проверено аппаратом"), "description": N_("Документы в порядке; ходатайство в очереди "
                                                                     "Президиума.")},
        "approved": {"meaning": "done", "title": N_("помощь оказана (решение принято)"),
                     "description": N_("Решение Президиума или председателя (п. 4.5); ждёт выплаты.")},
        "rejected": {"meaning": "refused", "title": N_("отказано"), "description": N_("Президиум отказал; причина — в истории.")},
        "paid": {"meaning": "done", "title": N_("выплачено"), "description": N_("Бухгалтерия перечислила помощь на счёт члена Профсоюза.")},
    },
    "transitions": [
        {"name": "review", "title": N_("Документы проверены"), "source": "filed", "dest": "reviewed",
         "roles": AID_REVIEWERS, "guards": ["is_not_own_petition", "documents_complete"],
         "description": N_("Аппарат региональной организации проверил документы и условия Положения.")},
        {"name": "approve", "title": N_("Оказать помощь"), "source": "reviewed", "dest": "approved", "roles": PRESIDIUM,
         "guards": ["is_not_own_petition", "is_eligible", "decision_is_given"], "effects": ["aid_decided"],
         "description": N_("Решение Президиума (дата и номер заседания).")},
        {"name": "reject", "title": N_("Отказать"), "source": "reviewed", "dest": "rejected", "roles": PRESIDIUM,
         "guards": ["is_not_own_petition", "decision_is_given"], "effects": ["aid_decided"], "needs_comment": True,
         "description": N_("Решение Президиума об отказе с указанием причины.")},
        {"name": "override", "title": N_("Оказать помощь на иных условиях (п. 4.5)"), "source": ["filed", "reviewed"],
         "dest": "approved", "roles": REGIONAL_CHAIRMAN, "guards": ["is_not_own_petition", "override_is_valid"],
         "effects": ["aid_overridden"], "needs_comment": True,
         "description": N_("Единоличное решение председателя: иная сумма или иные условия; причина обязательна.")},
        {"name": "pay", "title": N_("Отметить выплату"), "source": "approved", "dest": "paid", "roles": ACCOUNTANTS,
         "guards": ["is_not_own_petition", "payment_is_given"], "effects": ["aid_paid"],
         "description": N_("Дата платежа и номер платёжного поручения.")},
    ],
}

# Fields a transition's input writes before the state moves, so the table's CHECKs hold at the UPDATE.
STAGED_FIELDS = {
    "approve": ("decision_date", "decision_number"),
    "reject": ("decision_date", "decision_number"),
    "override": ("is_override", "override_reason", "override_by_id", "override_at"),
    "pay": ("paid_on", "payment_reference"),
}

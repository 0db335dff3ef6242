"""Workflow of a member's consent to personal-data processing (152-FZ, SPEC §4, seed 002 steps 6–7)."""

from portal.i18n import N_
from workflows.roles import CHAIRS, MEMBER, SYSTEM

DEFINITION = {
    "name": "consent",
    "title": N_("Согласие на обработку персональных данных"),
    "description": N_("Председатель печатает согласие из учётной карточки, член Профсоюза подписывает его, "
                   "председатель отмечает подписание; в течение суток данные передаются в ПРОФКАРДС."),
    "state_attr": "consent_status",
    "version_attr": "consent_version",
    "initial": "none",
    "states": {
        "none": {"title": N_("нет согласия"), "description": N_("Согласие ещё не распечатано.")},
        "printed": {"title": N_("согласие распечатано"), "description": N_("Форма выдана члену Профсоюза на подпись.")},
        "signed": {"title": N_("согласие подписано"), "description": N_("Подписанное согласие хранится в профкоме; "
                                                                   "ждёт ежедневной передачи в ПРОФКАРДС.")},
        "transferred": {"title": N_("передано в ПРОФКАРДС"), "description": N_("Данные переданы в бонусную программу.")},
        "withdrawn": {"title": N_("согласие отозвано"), "description": N_("Передача прекращена; программа получила отзыв.")},
    },
    "transitions": [
        {"name": "print", "title": N_("Распечатать согласие"), "source": ["none", "withdrawn"], "dest": "printed",
         "roles": CHAIRS, "guards": ["member_is_active"], "effects": ["consent_printed"],
         "description": N_("Сформировать бланк согласия из учётной карточки.")},
        {"name": "sign", "title": N_("Отметить подписанное согласие"), "source": "printed", "dest": "signed",
         "roles": CHAIRS, "guards": ["member_is_active", "signed_on_is_valid"], "effects": ["consent_signed"],
         "description": N_("«В соответствии с ФЗ № 152-ФЗ „О персональных данных“ даю своё согласие…» — дата подписи "
                        "и, по желанию, скан.")},
        {"name": "transfer", "title": N_("Передать в ПРОФКАРДС"), "source": "signed", "dest": "transferred",
         "roles": SYSTEM, "effects": ["consent_transferred"],
         "description": N_("Ежедневная выгрузка в бонусную программу.")},
        {"name": "withdraw", "title": N_("Отозвать согласие"), "source": ["printed", "signed", "transferred"],
         "dest": "withdrawn", "roles": CHAIRS + MEMBER, "guards": ["withdrawn_on_is_valid"], "effects": ["consent_withdrawn"],
         "needs_comment": True,
         "description": N_("По письменному отзыву члена Профсоюза: передача прекращается, отзыв передаётся в программу.")},
    ],
}

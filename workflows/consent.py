"""Workflow of a member's consent to personal-data processing (152-FZ, SPEC §4, seed 002 steps 6–7)."""

from workflows.roles import CHAIRS, SYSTEM

DEFINITION = {
    "name": "consent",
    "title": "Согласие на обработку персональных данных",
    "description": "Председатель печатает согласие из учётной карточки, член Профсоюза подписывает его, "
                   "председатель отмечает подписание; в течение суток данные передаются в ПРОФКАРДС.",
    "state_attr": "consent_status",
    "version_attr": "consent_version",
    "initial": "none",
    "states": {
        "none": {"title": "нет согласия", "description": "Согласие ещё не распечатано."},
        "printed": {"title": "согласие распечатано", "description": "Форма выдана члену Профсоюза на подпись."},
        "signed": {"title": "согласие подписано", "description": "Подписанное согласие хранится в профкоме; "
                                                                   "ждёт ежедневной передачи в ПРОФКАРДС."},
        "transferred": {"title": "передано в ПРОФКАРДС", "description": "Данные переданы в бонусную программу."},
        "withdrawn": {"title": "согласие отозвано", "description": "Передача прекращена; программа получила отзыв."},
    },
    "transitions": [
        {"name": "print", "title": "Распечатать согласие", "source": ["none", "withdrawn"], "dest": "printed",
         "roles": CHAIRS, "guards": ["member_is_active"], "effects": ["consent_printed"],
         "description": "Сформировать бланк согласия из учётной карточки."},
        {"name": "sign", "title": "Отметить подписанное согласие", "source": "printed", "dest": "signed",
         "roles": CHAIRS, "guards": ["member_is_active", "signed_on_is_valid"], "effects": ["consent_signed"],
         "description": "«В соответствии с ФЗ № 152-ФЗ „О персональных данных“ даю своё согласие…» — дата подписи "
                        "и, по желанию, скан."},
        {"name": "transfer", "title": "Передать в ПРОФКАРДС", "source": "signed", "dest": "transferred",
         "roles": SYSTEM, "effects": ["consent_transferred"],
         "description": "Ежедневная выгрузка в бонусную программу."},
        {"name": "withdraw", "title": "Отозвать согласие", "source": ["printed", "signed", "transferred"],
         "dest": "withdrawn", "roles": CHAIRS, "guards": ["withdrawn_on_is_valid"], "effects": ["consent_withdrawn"],
         "needs_comment": True,
         "description": "По письменному отзыву члена Профсоюза: передача прекращается, отзыв передаётся в программу."},
    ],
}

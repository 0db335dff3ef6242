"""Forms of material aid: the chair's petition, decisions (one or many), the override, payment, attachments, the
regulation."""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from forms import BaseForm
from portal.aid.models import AttachmentKind
from portal.i18n import lazy
from workflows.aid import PATIENTS, PAYERS, VOUCHER_SOURCES

REQUIRED = lazy_gettext("Обязательное поле.")
BAD_DATE = lazy_gettext("Дата в формате ДД.ММ.ГГГГ.")


class PetitionForm(BaseForm):
    """The chair's petition: the member from the registry plus the treatment facts and the bank details."""

    member_id = SelectField(lazy_gettext("Член Профсоюза"), coerce=str, validators=[DataRequired(REQUIRED)])
    patient = SelectField(lazy_gettext("Кто проходил лечение"), choices=[(k, lazy(v)) for k, v in PATIENTS.items()], default="member")
    sanatorium = StringField(lazy_gettext("Санаторий (наименование)"), validators=[DataRequired(REQUIRED), Length(max=300)])
    treatment_start = DateField(lazy_gettext("Начало лечения"), validators=[DataRequired(BAD_DATE)])
    treatment_end = DateField(lazy_gettext("Окончание лечения"), validators=[DataRequired(BAD_DATE)])
    voucher_source = SelectField(lazy_gettext("Как получена путёвка"), choices=[(k, lazy(v)) for k, v in VOUCHER_SOURCES.items()], default="purchase")
    payer = SelectField(lazy_gettext("Кто оплатил путёвку"), choices=[(k, lazy(v)) for k, v in PAYERS.items()], default="member")
    pays_dues = BooleanField(lazy_gettext("Регулярно уплачивает членские взносы"), default=True)
    profcom_decision_date = DateField(lazy_gettext("Дата заседания профкома"), validators=[DataRequired(BAD_DATE)])
    profcom_decision_number = StringField(lazy_gettext("Номер протокола профкома"),
                                          validators=[DataRequired(REQUIRED), Length(max=40)])
    account_number = StringField(lazy_gettext("Номер счёта (20 цифр)"), validators=[DataRequired(REQUIRED), Length(max=30)])
    bik = StringField(lazy_gettext("БИК банка (9 цифр)"), validators=[DataRequired(REQUIRED), Length(max=12)])
    bank_name = StringField(lazy_gettext("Банк"), validators=[DataRequired(REQUIRED), Length(max=200)])


class DecisionForm(BaseForm):
    """A presidium decision, or the accountant's payment, on one petition or on the ticked ones."""

    decision_date = DateField(lazy_gettext("Дата заседания Президиума"), validators=[DataRequired(BAD_DATE)])
    decision_number = StringField(lazy_gettext("Номер протокола"), validators=[DataRequired(REQUIRED), Length(max=40)])
    # Required for a refusal only (the workflow's `needs_comment`): the «Отказать» button asks for it (forms.js).
    comment = TextAreaField(lazy_gettext("Комментарий (причина отказа)"), validators=[Optional(), Length(max=2000)])
    version = HiddenField()


class OverrideForm(BaseForm):
    """The regional chairman's override (п. 4.5): another amount, other conditions, a written reason."""

    amount = StringField(lazy_gettext("Сумма, руб."), validators=[DataRequired(REQUIRED), Length(max=20)])
    conditions = TextAreaField(lazy_gettext("Иные условия"), validators=[Optional(), Length(max=2000)])
    comment = TextAreaField(lazy_gettext("Причина"), validators=[DataRequired(REQUIRED), Length(max=2000)])
    version = HiddenField()


class PaymentForm(BaseForm):
    """The accountant's payment: its date and the payment order's number, both required."""

    paid_on = DateField(lazy_gettext("Дата платежа"), validators=[DataRequired(BAD_DATE)])
    payment_reference = StringField(lazy_gettext("Номер платёжного поручения"),
                                    validators=[DataRequired(REQUIRED), Length(max=60)])
    version = HiddenField()


class ActionForm(BaseForm):
    """A button with no input (the office's review)."""

    comment = TextAreaField(lazy_gettext("Комментарий"), validators=[Optional(), Length(max=2000)])
    version = HiddenField()


class AttachmentForm(BaseForm):
    kind = SelectField(lazy_gettext("Документ"), choices=AttachmentKind.choices(), default="proof")
    file = FileField(lazy_gettext("Файл (PDF, JPEG или PNG, до 10 МБ)"), validators=[FileRequired(lazy_gettext("Выберите файл."))])


class BandForm(BaseForm):
    """One row of the regulation's table (a sub-form: no CSRF of its own)."""

    class Meta:
        csrf = False

    min_years = IntegerField(lazy_gettext("от, лет"), validators=[Optional(), NumberRange(0, 200)])
    max_years = IntegerField(lazy_gettext("до, лет"), validators=[Optional(), NumberRange(0, 200)])
    base = StringField(lazy_gettext("до порога"), validators=[Optional(), Length(max=14), Regexp(r"^[\d\s.,]*$")])
    above = StringField(lazy_gettext("выше порога"), validators=[Optional(), Length(max=14), Regexp(r"^[\d\s.,]*$")])
    full = StringField(lazy_gettext("при 100 %"), validators=[Optional(), Length(max=14), Regexp(r"^[\d\s.,]*$")])


class RegulationForm(BaseForm):
    """A new version of the regulation: validity, the table, the conditions."""

    title = StringField(lazy_gettext("Название"), validators=[DataRequired(REQUIRED), Length(max=300)])
    approved_by = StringField(lazy_gettext("Утверждено (решение Президиума)"), validators=[Optional(), Length(max=300)])
    addressee = TextAreaField(lazy_gettext("Кому адресуется ходатайство (форма № 1: в дательном падеже, по строкам, как на бланке)"),
                              validators=[DataRequired(REQUIRED), Length(max=1000)], render_kw={"rows": 6})
    programme_name = StringField(lazy_gettext("Профсоюзная программа оздоровления (п. 3.1: организация или название; пусто — нет)"),
                                 validators=[Optional(), Length(max=300)])
    valid_from = DateField(lazy_gettext("Действует с"), validators=[DataRequired(BAD_DATE)])
    valid_to = DateField(lazy_gettext("по (пусто — бессрочно)"), validators=[Optional()])
    level_base_max = StringField(lazy_gettext("Порог уровня членства, % (до него включительно — базовая сумма)"),
                                 validators=[DataRequired(REQUIRED), Length(max=8)])
    level_full = StringField(lazy_gettext("Уровень полной надбавки, %"), validators=[DataRequired(REQUIRED), Length(max=8)])
    min_tenure_years = IntegerField(lazy_gettext("Минимальный стаж, лет"), validators=[InputRequired(REQUIRED), NumberRange(0, 50)])
    min_stay_days = IntegerField(lazy_gettext("Минимальный срок пребывания, дней"),
                                 validators=[InputRequired(REQUIRED), NumberRange(1, 365)])
    repeat_interval_days = IntegerField(lazy_gettext("Интервал между началами лечения, дней (730 = 2 календарных года)"),
                                        validators=[InputRequired(REQUIRED), NumberRange(0, 3650)])
    excluded_sources = StringField(lazy_gettext("Исключённые источники путёвок"))  # filled from checkboxes
    allowed_payers = StringField(lazy_gettext("Допустимые плательщики"))
    bands = FieldList(FormField(BandForm), min_entries=10, max_entries=20)

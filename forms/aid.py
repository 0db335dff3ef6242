"""Forms of material aid: the chair's petition, decisions (one or many), the override, payment, attachments, the
regulation."""

from __future__ import annotations

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
from workflows.aid import PATIENTS, PAYERS, VOUCHER_SOURCES

REQUIRED = "Обязательное поле."
BAD_DATE = "Дата в формате ДД.ММ.ГГГГ."


class PetitionForm(BaseForm):
    """The chair's petition: the member from the registry plus the treatment facts and the bank details."""

    member_id = SelectField("Член Профсоюза", coerce=str, validators=[DataRequired(REQUIRED)])
    patient = SelectField("Кто проходил лечение", choices=list(PATIENTS.items()), default="member")
    sanatorium = StringField("Санаторий (наименование)", validators=[DataRequired(REQUIRED), Length(max=300)])
    treatment_start = DateField("Начало лечения", validators=[DataRequired(BAD_DATE)])
    treatment_end = DateField("Окончание лечения", validators=[DataRequired(BAD_DATE)])
    voucher_source = SelectField("Как получена путёвка", choices=list(VOUCHER_SOURCES.items()), default="purchase")
    payer = SelectField("Кто оплатил путёвку", choices=list(PAYERS.items()), default="member")
    pays_dues = BooleanField("Регулярно уплачивает членские взносы", default=True)
    profcom_decision_date = DateField("Дата заседания профкома", validators=[DataRequired(BAD_DATE)])
    profcom_decision_number = StringField("Номер протокола профкома",
                                          validators=[DataRequired(REQUIRED), Length(max=40)])
    account_number = StringField("Номер счёта (20 цифр)", validators=[DataRequired(REQUIRED), Length(max=30)])
    bik = StringField("БИК банка (9 цифр)", validators=[DataRequired(REQUIRED), Length(max=12)])
    bank_name = StringField("Банк", validators=[DataRequired(REQUIRED), Length(max=200)])


class DecisionForm(BaseForm):
    """A presidium decision, or the accountant's payment, on one petition or on the ticked ones."""

    decision_date = DateField("Дата заседания Президиума", validators=[Optional()])
    decision_number = StringField("Номер протокола", validators=[Optional(), Length(max=40)])
    comment = TextAreaField("Комментарий (причина отказа)", validators=[Optional(), Length(max=2000)])
    version = HiddenField()


class OverrideForm(BaseForm):
    """The regional chairman's override (п. 4.5): another amount, other conditions, a written reason."""

    amount = StringField("Сумма, руб.", validators=[DataRequired(REQUIRED), Length(max=20)])
    conditions = TextAreaField("Иные условия", validators=[Optional(), Length(max=2000)])
    comment = TextAreaField("Причина (обязательно)", validators=[Optional(), Length(max=2000)])
    version = HiddenField()


class PaymentForm(BaseForm):
    paid_on = DateField("Дата платежа", validators=[Optional()])
    payment_reference = StringField("Номер платёжного поручения", validators=[Optional(), Length(max=60)])
    version = HiddenField()


class ActionForm(BaseForm):
    """A button with no input (the office's review)."""

    comment = TextAreaField("Комментарий", validators=[Optional(), Length(max=2000)])
    version = HiddenField()


class AttachmentForm(BaseForm):
    kind = SelectField("Документ", choices=[(k.value, k.title) for k in AttachmentKind], default="proof")
    file = FileField("Файл (PDF, JPEG или PNG, до 10 МБ)", validators=[FileRequired("Выберите файл.")])


class BandForm(BaseForm):
    """One row of the regulation's table (a sub-form: no CSRF of its own)."""

    class Meta:
        csrf = False

    min_years = IntegerField("от, лет", validators=[Optional(), NumberRange(0, 200)])
    max_years = IntegerField("до, лет", validators=[Optional(), NumberRange(0, 200)])
    base = StringField("до порога", validators=[Optional(), Length(max=14), Regexp(r"^[\d\s.,]*$")])
    above = StringField("выше порога", validators=[Optional(), Length(max=14), Regexp(r"^[\d\s.,]*$")])
    full = StringField("при 100 %", validators=[Optional(), Length(max=14), Regexp(r"^[\d\s.,]*$")])


class RegulationForm(BaseForm):
    """A new version of the regulation: validity, the table, the conditions."""

    title = StringField("Название", validators=[DataRequired(REQUIRED), Length(max=300)])
    approved_by = StringField("Утверждено (решение Президиума)", validators=[Optional(), Length(max=300)])
    addressee = TextAreaField("Кому адресуется ходатайство (форма № 1: в дательном падеже, по строкам, как на бланке)",
                              validators=[Optional(), Length(max=1000)], render_kw={"rows": 6})
    valid_from = DateField("Действует с", validators=[DataRequired(BAD_DATE)])
    valid_to = DateField("по (пусто — бессрочно)", validators=[Optional()])
    level_base_max = StringField("Порог уровня членства, % (до него включительно — базовая сумма)",
                                 validators=[DataRequired(REQUIRED), Length(max=8)])
    level_full = StringField("Уровень полной надбавки, %", validators=[DataRequired(REQUIRED), Length(max=8)])
    min_tenure_years = IntegerField("Минимальный стаж, лет", validators=[InputRequired(REQUIRED), NumberRange(0, 50)])
    min_stay_days = IntegerField("Минимальный срок пребывания, дней",
                                 validators=[InputRequired(REQUIRED), NumberRange(1, 365)])
    repeat_interval_days = IntegerField("Интервал между началами лечения, дней",
                                        validators=[InputRequired(REQUIRED), NumberRange(0, 3650)])
    excluded_sources = StringField("Исключённые источники путёвок")  # filled from checkboxes
    allowed_payers = StringField("Допустимые плательщики")
    bands = FieldList(FormField(BandForm), min_entries=10, max_entries=20)

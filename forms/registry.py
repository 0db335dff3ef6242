"""Forms of the registry: the organisation passport, the member card, membership events, correction requests."""

from __future__ import annotations

from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional, Regexp

from forms import BaseForm
from portal.registry.models import Category, DuesForm, Education, Gender, InstitutionKind
from portal.registry.rules import check_member

_BLANK = [("", "— выберите —")]


def _choices(enum_cls):
    return _BLANK + enum_cls.choices()


def _enum_or_none(enum_cls):
    return lambda v: enum_cls(v) if v else None


class PassportForm(BaseForm):
    """The organisation's electronic passport (ИНПО tab first, seed 002 step 4)."""

    name = StringField("Полное наименование", validators=[DataRequired("Укажите полное наименование."), Length(max=500)])
    short_name = StringField("Краткое наименование", validators=[Optional(), Length(max=200)])
    inn = StringField("ИНН учреждения", validators=[
        Optional(), Regexp(r"^(\d{10}|\d{12})$", message="ИНН — 10 или 12 цифр.")])
    kind = SelectField("Вид учреждения", choices=_choices(InstitutionKind), coerce=_enum_or_none(InstitutionKind),
                       validate_choice=False)
    address = StringField("Адрес", validators=[Optional(), Length(max=500)])
    chair_name = StringField("Председатель (ФИО)", validators=[Optional(), Length(max=200)])
    chair_gender = SelectField("Пол председателя", choices=_choices(Gender), coerce=_enum_or_none(Gender),
                               validate_choice=False)
    chair_released = BooleanField("Председатель освобождённый (работает в Профсоюзе на оплачиваемой основе)")
    chair_phone = StringField("Телефон председателя", validators=[
        Optional(), Regexp(r"^\+?[\d\s()\-]{5,25}$", message="Телефон — цифры, пробелы, скобки и дефис.")])
    chair_email = StringField("E-mail председателя", validators=[Optional(), Email("Неверный адрес e-mail.")])
    staff_count = IntegerField("Работающих в учреждении", validators=[
        Optional(), NumberRange(min=0, max=1_000_000, message="Число от 0 до 1 000 000.")])
    student_count = IntegerField("Обучающихся (для студенческих организаций)", validators=[
        Optional(), NumberRange(min=0, max=1_000_000, message="Число от 0 до 1 000 000.")])
    committee_size = IntegerField("Членов профкома", validators=[
        Optional(), NumberRange(min=0, max=1000, message="Число от 0 до 1000.")])
    audit_commission_size = IntegerField("Членов контрольно-ревизионной комиссии", validators=[
        Optional(), NumberRange(min=0, max=1000, message="Число от 0 до 1000.")])

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        if self.kind.data and self.kind.data.value not in dict(InstitutionKind.choices()):
            self.kind.errors.append("Выберите вид учреждения из списка.")
            ok = False
        return ok


class MemberForm(BaseForm):
    """The member card (учётная карточка): every mandatory field of SPEC §3."""

    last_name = StringField("Фамилия", validators=[InputRequired("Укажите фамилию."), Length(max=100)])
    first_name = StringField("Имя", validators=[InputRequired("Укажите имя."), Length(max=100)])
    patronymic = StringField("Отчество", validators=[Optional(), Length(max=100)],
                             description="Оставьте пустым, если отчества нет.")
    birth_date = DateField("Дата рождения", validators=[InputRequired("Укажите дату рождения.")],
                           render_kw={"max": "2100-01-01"})
    gender = SelectField("Пол", choices=_choices(Gender), validators=[InputRequired("Укажите пол.")])
    category = SelectField("Категория", choices=_choices(Category), validators=[InputRequired("Укажите категорию.")])
    department = StringField("Подразделение", validators=[Optional(), Length(max=200)])
    position = StringField("Должность (для обучающихся — факультет, курс)",
                           validators=[InputRequired("Укажите должность."), Length(max=200)])
    education = SelectField("Образование", choices=_choices(Education),
                            validators=[InputRequired("Укажите образование.")])
    dues_form = SelectField("Форма уплаты взносов", choices=_choices(DuesForm),
                            validators=[InputRequired("Укажите форму уплаты взносов.")])
    joined_on = DateField("Дата вступления в Профсоюз", validators=[InputRequired("Укажите дату вступления.")])
    address = StringField("Адрес проживания", validators=[Optional(), Length(max=500)])
    phone = StringField("Телефон", validators=[Optional(), Length(max=40)])
    email = StringField("E-mail", validators=[Optional(), Length(max=200)])

    ENUMS = {"gender": Gender, "category": Category, "education": Education, "dues_form": DuesForm}

    def typed_data(self) -> dict:
        data = {name: self[name].data for name in (
            "last_name", "first_name", "patronymic", "birth_date", "department", "position", "joined_on",
            "address", "phone", "email")}
        for key in ("last_name", "first_name", "patronymic", "department", "position", "address", "phone", "email"):
            data[key] = " ".join((data[key] or "").split())
        for name, enum_cls in self.ENUMS.items():
            value = self[name].data
            data[name] = enum_cls(value) if value in {m.value for m in enum_cls} else None
        return data

    def validate(self, extra_validators=None):
        """WTForms checks types; the shared card rules (portal.registry.rules) check everything else."""
        ok = super().validate(extra_validators)
        for name, message in check_member(self.typed_data()).items():
            field = self[name]
            text = message[0].upper() + message[1:] + "."
            if not field.errors:
                field.errors = list(field.errors) + [text]
                ok = False
        return ok


class EventForm(BaseForm):
    """Leaving, exclusion or re-admission: a date and the decision's grounds."""

    on_date = DateField("Дата решения", validators=[InputRequired("Укажите дату.")])
    reason = TextAreaField("Основание (заявление, протокол)", validators=[Optional(), Length(max=2000)])


class TransferForm(EventForm):
    to_org_id = SelectField("Первичная организация, куда переводится", coerce=int, validate_choice=True)


class CorrectionForm(BaseForm):
    text = TextAreaField("Что нужно исправить", validators=[
        DataRequired("Опишите, что нужно исправить."), Length(max=4000)])


class CorrectionAnswerForm(BaseForm):
    decision = SelectField("Решение", choices=[("done", "Исправлено"), ("declined", "Отклонено")])
    answer = TextAreaField("Ответ", validators=[Optional(), Length(max=4000)])

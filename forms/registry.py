"""Forms of the registry: the organisation passport, the member card, membership events, correction requests."""

from __future__ import annotations

from flask_babel import gettext, lazy_gettext
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional, Regexp

from forms import BaseForm
from portal.registry.models import Category, DuesForm, Education, Gender, InstitutionKind
from portal.registry.rules import check_member

_BLANK = [("", lazy_gettext("— выберите —"))]


def _choices(enum_cls):
    return _BLANK + enum_cls.choices()


def _enum_or_none(enum_cls):
    return lambda v: enum_cls(v) if v else None


class PassportForm(BaseForm):
    """The organisation's electronic passport (ИНПО tab first, seed 002 step 4)."""

    name = StringField(lazy_gettext("Полное наименование"),
                       validators=[DataRequired(lazy_gettext("Укажите полное наименование.")), Length(max=500)])
    short_name = StringField(lazy_gettext("Краткое наименование"), validators=[Optional(), Length(max=200)])
    inn = StringField(lazy_gettext("ИНН профсоюзной организации"), validators=[
        Optional(), Regexp(r"^(\d{10}|\d{12})$", message=lazy_gettext("ИНН — 10 или 12 цифр."))],
        description=lazy_gettext("Собственный ИНН организации Профсоюза (оператора персональных данных в согласии), "
                                 "не учреждения."))
    # The employer: members' «место работы (учёбы)» on the card, the consent and the export.
    institution_name = StringField(lazy_gettext("Учреждение (работодатель): полное наименование"),
                                   validators=[Optional(), Length(max=500)],
                                   description=lazy_gettext("Например: МБОУ «Средняя общеобразовательная школа № 5» "
                                                            "г. Липецка. Печатается как место работы (учёбы) членов."))
    institution_inn = StringField(lazy_gettext("ИНН учреждения"), validators=[
        Optional(), Regexp(r"^(\d{10}|\d{12})$", message=lazy_gettext("ИНН — 10 или 12 цифр."))])
    kind = SelectField(lazy_gettext("Вид учреждения"), choices=_choices(InstitutionKind),
                       coerce=_enum_or_none(InstitutionKind),
                       validate_choice=False)
    address = StringField(lazy_gettext("Адрес"), validators=[Optional(), Length(max=500)])
    chair_name = StringField(lazy_gettext("Председатель (ФИО)"), validators=[Optional(), Length(max=200)])
    chair_gender = SelectField(lazy_gettext("Пол председателя"), choices=_choices(Gender), coerce=_enum_or_none(Gender),
                               validate_choice=False)
    chair_released = BooleanField(lazy_gettext("Председатель освобождённый (работает в Профсоюзе на оплачиваемой основе)"))
    chair_phone = StringField(lazy_gettext("Телефон председателя"), validators=[
        Optional(), Regexp(r"^\+?[\d\s()\-]{5,25}$",
                           message=lazy_gettext("Телефон — цифры, пробелы, скобки и дефис."))])
    chair_email = StringField(lazy_gettext("E-mail председателя"), validators=[
        Optional(), Email(lazy_gettext("Неверный адрес e-mail."))])
    staff_count = IntegerField(lazy_gettext("Работающих в учреждении"), validators=[
        Optional(), NumberRange(min=0, max=1_000_000, message=lazy_gettext("Число от 0 до 1 000 000."))])
    student_count = IntegerField(lazy_gettext("Обучающихся (для студенческих организаций)"), validators=[
        Optional(), NumberRange(min=0, max=1_000_000, message=lazy_gettext("Число от 0 до 1 000 000."))])
    committee_size = IntegerField(lazy_gettext("Членов профкома"), validators=[
        Optional(), NumberRange(min=0, max=1000, message=lazy_gettext("Число от 0 до 1000."))])
    audit_commission_size = IntegerField(lazy_gettext("Членов контрольно-ревизионной комиссии"), validators=[
        Optional(), NumberRange(min=0, max=1000, message=lazy_gettext("Число от 0 до 1000."))])

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        if self.kind.data and self.kind.data.value not in dict(InstitutionKind.choices()):
            self.kind.errors.append(gettext("Выберите вид учреждения из списка."))
            ok = False
        return ok


class MemberForm(BaseForm):
    """The member card (учётная карточка): every mandatory field of SPEC §3."""

    last_name = StringField(lazy_gettext("Фамилия"), validators=[InputRequired(lazy_gettext("Укажите фамилию.")),
                                                                 Length(max=100)])
    first_name = StringField(lazy_gettext("Имя"), validators=[InputRequired(lazy_gettext("Укажите имя.")),
                                                              Length(max=100)])
    patronymic = StringField(lazy_gettext("Отчество"), validators=[Optional(), Length(max=100)],
                             description=lazy_gettext("Оставьте пустым, если отчества нет."))
    birth_date = DateField(lazy_gettext("Дата рождения"),
                           validators=[InputRequired(lazy_gettext("Укажите дату рождения."))],
                           render_kw={"max": "2100-01-01"})
    gender = SelectField(lazy_gettext("Пол"), choices=_choices(Gender),
                         validators=[InputRequired(lazy_gettext("Укажите пол."))])
    category = SelectField(lazy_gettext("Категория"), choices=_choices(Category),
                           validators=[InputRequired(lazy_gettext("Укажите категорию."))])
    department = StringField(lazy_gettext("Подразделение"), validators=[Optional(), Length(max=200)])
    position = StringField(lazy_gettext("Должность (для обучающихся — факультет, курс)"),
                           validators=[InputRequired(lazy_gettext("Укажите должность.")), Length(max=200)])
    education = SelectField(lazy_gettext("Образование"), choices=_choices(Education),
                            validators=[InputRequired(lazy_gettext("Укажите образование."))])
    dues_form = SelectField(lazy_gettext("Форма уплаты взносов"), choices=_choices(DuesForm),
                            validators=[InputRequired(lazy_gettext("Укажите форму уплаты взносов."))])
    joined_on = DateField(lazy_gettext("Дата вступления в Профсоюз"),
                          validators=[InputRequired(lazy_gettext("Укажите дату вступления."))])
    address = StringField(lazy_gettext("Адрес проживания"), validators=[Optional(), Length(max=500)])
    phone = StringField(lazy_gettext("Телефон"), validators=[Optional(), Length(max=40)])
    email = StringField("E-mail", validators=[Optional(), Length(max=200)])
    # 152-FZ art. 9 part 4: optional on the card, required to print the consent.
    id_doc_type = StringField(lazy_gettext("Документ, удостоверяющий личность"), validators=[Optional(), Length(max=100)],
                              description=lazy_gettext("Например: паспорт гражданина Российской Федерации."))
    id_doc_number = StringField(lazy_gettext("Серия и номер документа"), validators=[Optional(), Length(max=40)])
    id_doc_issued_on = DateField(lazy_gettext("Дата выдачи документа"), validators=[Optional()],
                                 render_kw={"max": "2100-01-01"})
    id_doc_issuer = StringField(lazy_gettext("Кем выдан документ"), validators=[Optional(), Length(max=300)])

    ENUMS = {"gender": Gender, "category": Category, "education": Education, "dues_form": DuesForm}

    def typed_data(self) -> dict:
        data = {name: self[name].data for name in (
            "last_name", "first_name", "patronymic", "birth_date", "department", "position", "joined_on",
            "address", "phone", "email", "id_doc_type", "id_doc_number", "id_doc_issued_on", "id_doc_issuer")}
        for key in ("last_name", "first_name", "patronymic", "department", "position", "address", "phone", "email",
                    "id_doc_type", "id_doc_number", "id_doc_issuer"):
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
            message = gettext(message)  # the rules answer with msgids (the import reports keep them Russian)
            text = message[0].upper() + message[1:] + "."
            if not field.errors:
                field.errors = list(field.errors) + [text]
                ok = False
        return ok


class EventForm(BaseForm):
    """Leaving, exclusion or re-admission: a date and the decision's grounds."""

    on_date = DateField(lazy_gettext("Дата решения"), validators=[InputRequired(lazy_gettext("Укажите дату."))])
    reason = TextAreaField(lazy_gettext("Основание (заявление, протокол)"), validators=[Optional(), Length(max=2000)])


class TransferForm(EventForm):
    to_org_id = SelectField(lazy_gettext("Первичная организация, куда переводится"), coerce=int, validate_choice=True)


class CorrectionForm(BaseForm):
    text = TextAreaField(lazy_gettext("Что нужно исправить"), validators=[
        DataRequired(lazy_gettext("Опишите, что нужно исправить.")), Length(max=4000)])


class JoinedOnCorrectionForm(BaseForm):
    """A correction of a member's joining date: the new date and why (it decides tenure and aid amounts)."""

    joined_on = DateField(lazy_gettext("Верная дата вступления в Профсоюз"),
                          validators=[InputRequired(lazy_gettext("Укажите исправленную дату вступления."))])
    reason = TextAreaField(lazy_gettext("Причина исправления"), description=lazy_gettext(
        "Откуда верная дата: заявление о вступлении, протокол, учётная карточка. Исправление видят проверяющие "
        "ходатайства о материальной помощи."), validators=[
        DataRequired(lazy_gettext("Укажите причину исправления.")), Length(max=2000)])


class CorrectionAnswerForm(BaseForm):
    decision = SelectField(lazy_gettext("Решение"),
                           choices=[("done", lazy_gettext("Исправлено")), ("declined", lazy_gettext("Отклонено"))])
    answer = TextAreaField(lazy_gettext("Ответ"), validators=[Optional(), Length(max=4000)])

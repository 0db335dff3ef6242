"""Forms of the member's side: registration in two steps, login, password reset, phone code, family, withdrawal."""

import re

from flask_babel import lazy_gettext
from wtforms import BooleanField, DateField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, ValidationError

from forms import BaseForm

_CARD_HELP = lazy_gettext("16 цифр с лицевой стороны профсоюзного билета")


def _card_digits(form, field):
    digits = re.sub(r"[\s\-]", "", field.data or "")
    if not digits.isdigit() or len(digits) != 16:
        raise ValidationError(lazy_gettext("Номер билета — 16 цифр, как на билете (пробелы можно оставить)."))


def _phone(form, field):
    """A Russian mobile number in any usual spelling; stored as +7XXXXXXXXXX."""
    if not field.data:
        return
    digits = re.sub(r"\D", "", field.data)
    if len(digits) == 11 and digits[0] in "78":
        digits = digits[1:]
    if len(digits) != 10:
        raise ValidationError(lazy_gettext("Телефон — 10 цифр после +7, например +7 900 123-45-67."))
    field.data = "+7" + digits


def _password_fields():
    password = PasswordField(lazy_gettext("Пароль"), validators=[
        DataRequired(lazy_gettext("Придумайте пароль.")),
        Length(min=8, max=200, message=lazy_gettext("Пароль должен быть не короче 8 символов."))])
    repeat = PasswordField(lazy_gettext("Пароль ещё раз"), validators=[
        DataRequired(lazy_gettext("Повторите пароль.")),
        EqualTo("password", message=lazy_gettext("Пароли не совпадают: введите их заново."))])
    return password, repeat


class RegisterIdentityForm(BaseForm):
    """Step 1 (seed 003 §2.2): the name exactly as in the registry and the card number."""

    last_name = StringField(lazy_gettext("Фамилия"), validators=[DataRequired(lazy_gettext("Введите фамилию.")),
                                                                Length(max=100)])
    first_name = StringField(lazy_gettext("Имя"), validators=[DataRequired(lazy_gettext("Введите имя.")),
                                                             Length(max=100)])
    patronymic = StringField(lazy_gettext("Отчество (если есть)"), validators=[Optional(), Length(max=100)])
    card_number = StringField(lazy_gettext("Номер профсоюзного билета"), description=_CARD_HELP,
                              validators=[DataRequired(lazy_gettext("Введите номер билета.")), _card_digits])


class RegisterAccountForm(BaseForm):
    """Step 2: contacts as the registry has them (editable), the password twice, the programme's rules."""

    email = StringField("E-mail", validators=[DataRequired(lazy_gettext("Укажите адрес электронной почты.")),
                                              Email(lazy_gettext("Неверный адрес e-mail.")), Length(max=200)])
    phone = StringField(lazy_gettext("Мобильный телефон"), validators=[Optional(), Length(max=40), _phone])
    password, repeat = _password_fields()
    rules = BooleanField(lazy_gettext("Я ознакомился(-ась) с правилами использования системы ПРОФКАРДС и принимаю их"),
                         validators=[DataRequired(lazy_gettext("Чтобы зарегистрироваться, примите правила."))])


class MemberLoginForm(BaseForm):
    card_number = StringField(lazy_gettext("Номер профсоюзного билета"),
                              validators=[DataRequired(lazy_gettext("Введите номер билета.")), Length(max=40)])
    password = PasswordField(lazy_gettext("Пароль"), validators=[DataRequired(lazy_gettext("Введите пароль.")),
                                                                 Length(max=200)])


class ResetRequestForm(BaseForm):
    card_number = StringField(lazy_gettext("Номер профсоюзного билета"),
                              validators=[DataRequired(lazy_gettext("Введите номер билета.")), Length(max=40)])


class ResetForm(BaseForm):
    password, repeat = _password_fields()


class PhoneCodeForm(BaseForm):
    code = StringField(lazy_gettext("Код из SMS"), validators=[DataRequired(lazy_gettext("Введите код из SMS.")),
                                                               Length(max=12)])


class WithdrawForm(BaseForm):
    confirm = BooleanField(lazy_gettext("Я понимаю: передача данных прекратится, личный кабинет будет закрыт"),
                           validators=[DataRequired(lazy_gettext("Подтвердите отзыв согласия."))])


class FamilyForm(BaseForm):
    full_name = StringField(lazy_gettext("Фамилия, имя, отчество"), validators=[
        DataRequired(lazy_gettext("Укажите фамилию, имя и отчество.")), Length(max=300)])
    relation = SelectField(lazy_gettext("Кем приходится"), validate_choice=True)
    birth_date = DateField(lazy_gettext("Дата рождения (по желанию)"), validators=[Optional()])


class ContactsForm(BaseForm):
    """Change the cabinet's email or phone: the current password proves it is the member (a stolen session alone
    cannot redirect the mail); a new email takes effect only once its link is opened."""

    email = StringField("E-mail", validators=[DataRequired(lazy_gettext("Укажите адрес электронной почты.")),
                                              Email(lazy_gettext("Неверный адрес e-mail.")),
                                              Length(max=100, message=lazy_gettext(
                                                  "Адрес e-mail не длиннее 100 символов."))])
    phone = StringField(lazy_gettext("Мобильный телефон"), validators=[Optional(), Length(max=40), _phone])
    current = PasswordField(lazy_gettext("Текущий пароль"), validators=[
        DataRequired(lazy_gettext("Введите текущий пароль: без него контакты не меняются.")), Length(max=200)])


class ActionForm(BaseForm):
    """A bare form (CSRF only) for buttons."""

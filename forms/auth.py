"""Forms for logging in, changing a password and creating staff accounts."""

from flask_babel import lazy_gettext
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, Regexp

from forms import BaseForm


class LoginForm(BaseForm):
    login = StringField(lazy_gettext("Логин"), validators=[DataRequired(lazy_gettext("Введите логин.")),
                                                           Length(max=80)])
    password = PasswordField(lazy_gettext("Пароль"), validators=[DataRequired(lazy_gettext("Введите пароль.")),
                                                                 Length(max=200)])


class ChangePasswordForm(BaseForm):
    current = PasswordField(lazy_gettext("Текущий пароль"),
                            validators=[DataRequired(lazy_gettext("Введите текущий пароль."))])
    new = PasswordField(lazy_gettext("Новый пароль"), validators=[
        DataRequired(lazy_gettext("Введите новый пароль.")),
        Length(min=10, max=200, message=lazy_gettext("Пароль должен быть не короче 10 символов."))])
    repeat = PasswordField(lazy_gettext("Новый пароль ещё раз"), validators=[
        DataRequired(lazy_gettext("Повторите новый пароль.")), EqualTo("new",
                                                                       message=lazy_gettext("Пароли не совпадают."))])


class AccountForm(BaseForm):
    """A chair's account for an organisation below (the login and password are handed over by the higher organisation)."""

    org_id = SelectField(lazy_gettext("Организация"), coerce=int, validate_choice=True)
    role = SelectField(lazy_gettext("Роль"), validate_choice=True)
    login = StringField(lazy_gettext("Логин"), validators=[
        DataRequired(lazy_gettext("Введите логин.")), Length(min=3, max=80,
                                                             message=lazy_gettext("Логин — от 3 до 80 символов.")),
        Regexp(r"^[A-Za-z0-9._-]+$", message=lazy_gettext("Логин — латинские буквы, цифры, точка, дефис и подчёркивание."))])
    full_name = StringField(lazy_gettext("ФИО владельца"), validators=[DataRequired(lazy_gettext("Укажите ФИО.")),
                                                                       Length(max=200)])
    email = StringField("E-mail", validators=[Optional(), Email(lazy_gettext("Неверный адрес e-mail.")),
                                              Length(max=200)])


class AccountActionForm(BaseForm):
    """A bare form (CSRF only) for buttons: reset password, disable, enable."""

    confirm = BooleanField(default=True)

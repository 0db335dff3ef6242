"""Forms for logging in, changing a password and creating staff accounts."""

from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, Regexp

from forms import BaseForm


class LoginForm(BaseForm):
    login = StringField("Логин", validators=[DataRequired("Введите логин."), Length(max=80)])
    password = PasswordField("Пароль", validators=[DataRequired("Введите пароль."), Length(max=200)])


class ChangePasswordForm(BaseForm):
    current = PasswordField("Текущий пароль", validators=[DataRequired("Введите текущий пароль.")])
    new = PasswordField("Новый пароль", validators=[
        DataRequired("Введите новый пароль."),
        Length(min=10, max=200, message="Пароль должен быть не короче 10 символов.")])
    repeat = PasswordField("Новый пароль ещё раз", validators=[
        DataRequired("Повторите новый пароль."), EqualTo("new", message="Пароли не совпадают.")])


class AccountForm(BaseForm):
    """A chair's account for an organisation below (the login and password are handed over by the higher organisation)."""

    org_id = SelectField("Организация", coerce=int, validate_choice=True)
    role = SelectField("Роль", validate_choice=True)
    login = StringField("Логин", validators=[
        DataRequired("Введите логин."), Length(min=3, max=80, message="Логин — от 3 до 80 символов."),
        Regexp(r"^[A-Za-z0-9._-]+$", message="Логин — латинские буквы, цифры, точка, дефис и подчёркивание.")])
    full_name = StringField("ФИО владельца", validators=[DataRequired("Укажите ФИО."), Length(max=200)])
    email = StringField("E-mail", validators=[Optional(), Email("Неверный адрес e-mail."), Length(max=200)])


class AccountActionForm(BaseForm):
    """A bare form (CSRF only) for buttons: reset password, disable, enable."""

    confirm = BooleanField(default=True)

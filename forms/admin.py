"""Forms of the back office (Flask-Admin). All are Flask-WTF forms (CSRF-protected) and list only the fields a
back-office user may set: no path, no session version, no password hash, no consent or card state.

Organisation pickers are type-ahead fields whose loader is scoped to the user (portal.admin.base.ScopedAjaxLoader),
so the builders below take the loader from the view.
"""

from __future__ import annotations

from flask_admin.model.fields import AjaxSelectField
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, InputRequired, Length, Optional, Regexp

from forms import BaseForm
from forms.registry import PassportForm
from portal.auth.models import Role
from portal.registry.models import OrgLevel

PASSWORD_RULES = [Length(min=10, max=200, message="Пароль должен быть не короче 10 символов.")]
# Organisations created in the back office: every level under the central council.
CREATABLE_LEVELS = [(lvl.value, lvl.title) for lvl in OrgLevel if lvl != OrgLevel.CENTRAL]


def organisation_create_form(parent_loader) -> type[BaseForm]:
    """A new organisation: its parent (in the user's scope), level and passport."""

    class OrganisationCreateForm(PassportForm):
        parent = AjaxSelectField(parent_loader, "Вышестоящая организация", allow_blank=False,
                                 validators=[InputRequired("Выберите вышестоящую организацию.")])
        level = SelectField("Уровень", choices=CREATABLE_LEVELS,
                            validators=[InputRequired("Выберите уровень организации.")])

    OrganisationCreateForm.FIRST = ("parent", "level")
    return OrganisationCreateForm


def organisation_edit_form(parent_loader) -> type[BaseForm]:
    """The passport, and the parent (moving) for those who may move this organisation."""

    class OrganisationEditForm(PassportForm):
        parent = AjaxSelectField(parent_loader, "Вышестоящая организация", allow_blank=False,
                                 description="Смена вышестоящей организации переносит организацию со всеми "
                                             "нижестоящими и членами Профсоюза.")

    OrganisationEditForm.FIRST = ("parent",)
    return OrganisationEditForm


class _AccountFields(BaseForm):
    full_name = StringField("ФИО владельца", validators=[DataRequired("Укажите ФИО."), Length(max=200)])
    email = StringField("E-mail", validators=[Optional(), Email("Неверный адрес e-mail."), Length(max=200)])
    role = SelectField("Роль", choices=Role.choices(), validators=[InputRequired("Выберите роль.")])


def account_create_form(org_loader) -> type[BaseForm]:
    """A staff account: organisation below the user's own, a role the user may grant, an initial password."""

    class AccountCreateForm(_AccountFields):
        org = AjaxSelectField(org_loader, "Организация", allow_blank=False,
                              validators=[InputRequired("Выберите организацию.")])
        login = StringField("Логин", validators=[
            DataRequired("Введите логин."), Length(min=3, max=80, message="Логин — от 3 до 80 символов."),
            Regexp(r"^[A-Za-z0-9._-]+$", message="Логин — латинские буквы, цифры, точка, дефис и подчёркивание.")])
        new_password = PasswordField("Временный пароль", validators=[DataRequired("Задайте пароль."), *PASSWORD_RULES],
                                     description="При первом входе владелец должен будет сменить его на свой.")

    AccountCreateForm.FIRST = ("org", "login")
    return AccountCreateForm


class AccountEditForm(_AccountFields):
    """Name, e-mail, role, enabled; a new password only if typed (hashed, and every session of the account ends)."""

    is_enabled = BooleanField("Учётная запись включена")
    new_password = PasswordField("Новый пароль", validators=[Optional(), *PASSWORD_RULES],
                                 description="Оставьте пустым, чтобы не менять. Новый пароль завершит все сеансы.")

    FIRST = ()

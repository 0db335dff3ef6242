"""Forms of the back office (Flask-Admin). All are Flask-WTF forms (CSRF-protected) and list only the fields a
back-office user may set: no path, no session version, no password hash, no consent or card state.

Organisation pickers are type-ahead fields whose loader is scoped to the user (portal.admin.base.ScopedAjaxLoader),
so the builders below take the loader from the view.
"""

from __future__ import annotations

from flask_admin.model.fields import AjaxSelectField
from flask_babel import lazy_gettext
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, InputRequired, Length, Optional, Regexp

from forms import BaseForm
from forms.registry import PassportForm
from portal.auth.models import Role
from portal.i18n import lazy
from portal.registry.models import OrgLevel

PASSWORD_RULES = [Length(min=10, max=200, message=lazy_gettext("Пароль должен быть не короче 10 символов."))]
# Organisations created in the back office: every level under the central council.
CREATABLE_LEVELS = [(lvl.value, lazy(lvl.title)) for lvl in OrgLevel if lvl != OrgLevel.CENTRAL]


def organisation_create_form(parent_loader) -> type[BaseForm]:
    """A new organisation: its parent (in the user's scope), level and passport."""

    class OrganisationCreateForm(PassportForm):
        parent = AjaxSelectField(parent_loader, lazy_gettext("Вышестоящая организация"), allow_blank=False,
                                 validators=[InputRequired(lazy_gettext("Выберите вышестоящую организацию."))])
        level = SelectField(lazy_gettext("Уровень"), choices=CREATABLE_LEVELS,
                            validators=[InputRequired(lazy_gettext("Выберите уровень организации."))])

    OrganisationCreateForm.FIRST = ("parent", "level")
    return OrganisationCreateForm


def organisation_edit_form(parent_loader) -> type[BaseForm]:
    """The passport, and the parent (moving) for those who may move this organisation."""

    class OrganisationEditForm(PassportForm):
        parent = AjaxSelectField(parent_loader, lazy_gettext("Вышестоящая организация"), allow_blank=False,
                                 description=lazy_gettext("Смена вышестоящей организации переносит организацию со всеми "
                                             "нижестоящими и членами Профсоюза."))

    OrganisationEditForm.FIRST = ("parent",)
    return OrganisationEditForm


class _AccountFields(BaseForm):
    full_name = StringField(lazy_gettext("ФИО владельца"), validators=[DataRequired(lazy_gettext("Укажите ФИО.")),
                                                                       Length(max=200)])
    email = StringField("E-mail", validators=[Optional(), Email(lazy_gettext("Неверный адрес e-mail.")),
                                              Length(max=200)])
    role = SelectField(lazy_gettext("Роль"), choices=Role.choices(),
                       validators=[InputRequired(lazy_gettext("Выберите роль."))])


def account_create_form(org_loader) -> type[BaseForm]:
    """A staff account: organisation below the user's own, a role the user may grant, an initial password."""

    class AccountCreateForm(_AccountFields):
        org = AjaxSelectField(org_loader, lazy_gettext("Организация"), allow_blank=False,
                              validators=[InputRequired(lazy_gettext("Выберите организацию."))])
        login = StringField(lazy_gettext("Логин"), validators=[
            DataRequired(lazy_gettext("Введите логин.")), Length(min=3, max=80,
                                                                 message=lazy_gettext("Логин — от 3 до 80 символов.")),
            Regexp(r"^[A-Za-z0-9._-]+$",
                   message=lazy_gettext("Логин — латинские буквы, цифры, точка, дефис и подчёркивание."))])
        new_password = PasswordField(lazy_gettext("Временный пароль"),
                                     validators=[DataRequired(lazy_gettext("Задайте пароль.")), *PASSWORD_RULES],
                                     description=lazy_gettext("При первом входе владелец должен будет сменить его на свой."))

    AccountCreateForm.FIRST = ("org", "login")
    return AccountCreateForm


class AccountEditForm(_AccountFields):
    """Name, e-mail, role, enabled; a new password only if typed (hashed, and every session of the account ends)."""

    is_enabled = BooleanField(lazy_gettext("Учётная запись включена"))
    new_password = PasswordField(lazy_gettext("Новый пароль"), validators=[Optional(), *PASSWORD_RULES],
                                 description=lazy_gettext("Оставьте пустым, чтобы не менять. Новый пароль завершит все сеансы."))

    FIRST = ()

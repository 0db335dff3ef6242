"""Back-office views: organisations, accounts, members, the audit log and correction requests.

Each inherits `ScopedModelView` (portal.admin.base), which scopes every row it reaches; here each view says which
columns it shows, who may create, edit, delete or export, and saves through the named operations.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, flash, request
from flask_admin import Admin
from flask_admin.actions import action
from flask_admin.menu import MenuLink
from flask_admin.theme import Bootstrap4Theme
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from sqlalchemy import func, or_, select

from forms.admin import AccountEditForm, account_create_form, organisation_create_form, organisation_edit_form
from forms.registry import MemberForm
from portal import audit, policy
from portal.admin.base import ScopedIndexView, ScopedModelView
from portal.admin.formatting import audit_details, audit_object, audit_org
from portal.audit import AuditEntry
from portal.auth.models import Role, User
from portal.extensions import db
from portal.policy import Permission
from portal.registry import operations as ops
from portal.registry.imports import ImportJob
from portal.registry.models import (
    CorrectionRequest,
    Member,
    MemberEvent,
    Organisation,
    OrgLevel,
)


def _title(view, context, model, name):
    """An enum column shown by its title in the interface language."""
    value = getattr(model, name)
    return getattr(value, "label", value) or ""


def _export_title(view, context, model, name):
    """An enum column exported by its Russian title (the same words as the registry's own exports)."""
    value = getattr(model, name)
    return getattr(value, "title", value) or ""


def _masked_card(view, context, model, name):
    number = model.card_number or ""
    return ("*" * (len(number) - 4) + number[-4:]) if len(number) > 4 else number


# ---- organisations -----------------------------------------------------------------------------------------------


class OrganisationView(ScopedModelView):
    """The tree's organisations: create under a parent in scope, correct the passport, move, delete empty ones."""

    create_permission = Permission.MANAGE_ORGS
    edit_permission = Permission.EDIT_PASSPORT
    delete_permission = Permission.MANAGE_ORGS
    export_permission = Permission.EXPORT_MEMBERS

    column_list = ("name", "short_name", "level", "parent", "inn", "staff_count", "student_count")
    column_details_list = ("name", "short_name", "level", "parent", "inn", "kind", "address", "chair_name",
                           "chair_phone", "chair_email", "staff_count", "student_count", "committee_size",
                           "audit_commission_size", "created_at")
    column_export_list = ("id", "name", "short_name", "level", "parent", "inn", "kind", "address", "chair_name",
                          "chair_phone", "chair_email", "staff_count", "student_count")
    column_labels = {
        "name": lazy_gettext("Полное наименование"), "short_name": lazy_gettext("Краткое наименование"),
        "level": lazy_gettext("Уровень"),
        "parent": lazy_gettext("Вышестоящая организация"), "inn": lazy_gettext("ИНН"),
        "kind": lazy_gettext("Вид учреждения"), "address": lazy_gettext("Адрес"),
        "chair_name": lazy_gettext("Председатель"), "chair_phone": lazy_gettext("Телефон председателя"),
        "chair_email": lazy_gettext("E-mail председателя"),
        "staff_count": lazy_gettext("Работающих"), "student_count": lazy_gettext("Обучающихся"),
        "committee_size": lazy_gettext("Членов профкома"),
        "audit_commission_size": lazy_gettext("Членов КРК"), "created_at": lazy_gettext("Создана"),
        "id": lazy_gettext("Код"),
    }
    column_formatters = {"level": _title, "kind": _title}
    column_searchable_list = ("name", "short_name", "inn")
    column_sortable_list = ("name", "short_name", "inn", "staff_count")
    column_default_sort = "name"
    form_ajax_refs = {"parent": {"fields": ("name", "short_name"), "page_size": 20}}

    def get_create_form(self):
        return organisation_create_form(self._form_ajax_refs["parent"])

    def get_edit_form(self):
        return organisation_edit_form(self._form_ajax_refs["parent"])

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if request.method == "GET" and obj is not None:
            form.kind.data = obj.kind
            form.chair_gender.data = obj.chair_gender
        if obj is not None and not policy.can_move_org(current_user, obj):
            del form.parent  # the user may not move this one: the field is not there to set
        return form

    @staticmethod
    def _passport(form) -> dict:
        data = {name: form[name].data for name in ops.PASSPORT_FIELDS}
        for key in ("short_name", "inn", "address", "chair_name", "chair_phone", "chair_email"):
            data[key] = (data[key] or "").strip()
        return data

    def create_model(self, form):
        parent = form.parent.data
        if not policy.can_create_org_under(current_user, parent):
            return self.refuse(gettext("Создавать организации можно только внутри своей организации."))
        level = OrgLevel(form.level.data)
        data = self._passport(form)
        name = data.pop("name").strip()
        try:
            org = ops.add_organisation(current_user, parent, level, name, **data)
        except ops.RegistryError as e:
            return self.refuse(e.message)
        db.session.commit()
        return org

    def update_model(self, form, model):
        if not policy.can_edit_org(current_user, model):
            return self.refuse(gettext("Недостаточно прав для изменения этой организации."))
        try:
            ops.update_passport(current_user, model, self._passport(form))
            if "parent" in form and form.parent.data is not None and form.parent.data.id != model.parent_id:
                new_parent = form.parent.data
                if not policy.can_move_org(current_user, model, new_parent):
                    return self.refuse(gettext("Перенести организацию можно только внутри своей организации."))
                ops.move_organisation(current_user, model, new_parent)
        except ops.RegistryError as e:
            return self.refuse(e.message)
        db.session.commit()
        return True

    def _blockers(self, org: Organisation) -> list[str]:
        """What still refers to the organisation (then it is not deleted)."""
        checks = [
            (gettext("нижестоящие организации"), select(func.count()).select_from(Organisation)
             .where(Organisation.parent_id == org.id)),
            (gettext("члены Профсоюза"), select(func.count()).select_from(Member).where(Member.org_id == org.id)),
            (gettext("учётные записи"), select(func.count()).select_from(User).where(User.org_id == org.id)),
            (gettext("запросы на исправление"), select(func.count()).select_from(CorrectionRequest).where(
                or_(CorrectionRequest.org_id == org.id, CorrectionRequest.to_org_id == org.id))),
            (gettext("история членства"), select(func.count()).select_from(MemberEvent).where(
                or_(MemberEvent.from_org_id == org.id, MemberEvent.to_org_id == org.id))),
            (gettext("загрузки списков"),
             select(func.count()).select_from(ImportJob).where(ImportJob.org_id == org.id)),
        ]
        return [title for title, q in checks if db.session.scalar(q)]

    def delete_model(self, model):
        if not policy.can_delete_org(current_user, model):
            return self.refuse(gettext("Удалить можно только организацию ниже своей."))
        blockers = self._blockers(model)
        if blockers:
            return self.refuse(gettext("Организацию нельзя удалить: у неё есть %(what)s.", what=", ".join(blockers)))
        audit.record("org_delete", model, name=model.name, path=model.path)
        # What describes only this organisation goes with it: the history of its staff counts (nothing was filed
        # from an organisation without members) and its kept member counters (all zero when it has none).
        from sqlalchemy import delete

        from portal.registry.models import OrgCountChange
        from portal.stats.models import StatCount

        db.session.execute(delete(OrgCountChange).where(OrgCountChange.org_id == model.id))
        db.session.execute(delete(StatCount).where(StatCount.org_id == model.id))
        db.session.delete(model)
        db.session.commit()
        return True


# ---- accounts ----------------------------------------------------------------------------------------------------


def _grantable_orgs(user):
    """Organisations whose chairs the user creates accounts for: strictly below their own (central: all)."""
    if policy.is_central(user):
        return Organisation.id.isnot(None)
    return Organisation.id != user.org_id


class UserView(ScopedModelView):
    """Staff accounts of the organisations below: role limited to what the user may grant, passwords hashed."""

    required_permissions = (Permission.MANAGE_ACCOUNTS,)
    create_permission = Permission.MANAGE_ACCOUNTS
    edit_permission = Permission.MANAGE_ACCOUNTS
    export_permission = Permission.MANAGE_ACCOUNTS

    column_list = ("login", "full_name", "email", "role", "org", "is_enabled", "last_login_at")
    column_details_list = ("login", "full_name", "email", "role", "org", "is_enabled", "must_change_password",
                           "created_at", "last_login_at")
    column_export_list = ("login", "full_name", "email", "role", "org", "is_enabled", "last_login_at")
    column_labels = {
        "login": lazy_gettext("Логин"), "full_name": lazy_gettext("ФИО"), "email": "E-mail",
        "role": lazy_gettext("Роль"), "org": lazy_gettext("Организация"),
        "is_enabled": lazy_gettext("Включена"), "must_change_password": lazy_gettext("Должен сменить пароль"),
        "created_at": lazy_gettext("Создана"),
        "last_login_at": lazy_gettext("Последний вход"),
    }
    column_formatters = {"role": _title}
    column_searchable_list = ("login", "full_name", "email")
    column_sortable_list = ("login", "full_name", "last_login_at")
    column_default_sort = "login"
    form_ajax_refs = {"org": {"fields": ("name", "short_name"), "page_size": 20, "narrow": _grantable_orgs}}

    def get_create_form(self):
        return account_create_form(self._form_ajax_refs["org"])

    def get_edit_form(self):
        return AccountEditForm

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if request.method == "GET" and obj is not None:
            form.role.data = obj.role.value
        return form

    def _role_allowed(self, org: Organisation, role: Role) -> bool:
        return role in policy.roles_user_may_grant(current_user, org)

    def create_model(self, form):
        org = form.org.data
        if org is None or not policy.roles_user_may_grant(current_user, org):
            return self.refuse(gettext("Учётные записи создаются для организаций ниже своей."))
        role = Role(form.role.data)
        if not self._role_allowed(org, role):
            allowed = ", ".join(r.label for r in policy.roles_user_may_grant(current_user, org))
            return self.refuse(gettext("Эту роль нельзя дать учётной записи этой организации (можно: %(roles)s).",
                                       roles=allowed))
        login = form.login.data.strip()
        if db.session.scalar(select(User.id).where(User.login == login)):
            return self.refuse(gettext("Такой логин уже занят."))
        user = User(login=login, full_name=form.full_name.data.strip(), email=(form.email.data or "").strip(),
                    role=role, org_id=org.id, created_by_id=current_user.id, must_change_password=True)
        user.set_password(form.new_password.data)
        db.session.add(user)
        db.session.flush()
        audit.record("account_create", user, role=role.value, via="admin")
        db.session.commit()
        return user

    def update_model(self, form, model):
        if not policy.can_manage_account(current_user, model) and model.id != current_user.id:
            return self.refuse(gettext("Недостаточно прав для изменения этой учётной записи."))
        changed = {}  # {field: [old, new]} for the audit (a password only as "changed", never a value)
        role = Role(form.role.data)
        if role != model.role:
            if model.id == current_user.id:
                return self.refuse(gettext("Свою роль изменить нельзя."))
            if not self._role_allowed(model.org, role):
                return self.refuse(gettext("Эту роль нельзя дать учётной записи этой организации."))
            changed["role"] = [model.role.value, role.value]
            model.role = role
        for name in ("full_name", "email"):
            value = (form[name].data or "").strip()
            if value != getattr(model, name):
                changed[name] = [getattr(model, name), value]
                setattr(model, name, value)
        enabled = bool(form.is_enabled.data)
        if enabled != model.is_enabled:
            if model.id == current_user.id:
                return self.refuse(gettext("Нельзя отключить собственную учётную запись."))
            changed["is_enabled"] = [model.is_enabled, enabled]
            model.is_enabled = enabled
        if form.new_password.data:
            model.set_password(form.new_password.data)
            model.must_change_password = True
            changed["password"] = True  # the audit blanks any key naming a password anyway
        if "password" in changed or "role" in changed or ("is_enabled" in changed and not enabled):
            model.end_sessions()  # a new password, a new role or disabling ends every session at once
        if changed:
            audit.record("account_update", model, changed=changed, via="admin")
        db.session.commit()
        return True

    @action("end_sessions", lazy_gettext("Завершить все сеансы"),
            lazy_gettext("Завершить все сеансы выбранных учётных записей?"))
    def action_end_sessions(self, ids):
        users = self.get_query().filter(User.id.in_([int(i) for i in ids])).all()
        for user in users:
            user.end_sessions()
            audit.record("account_end_sessions", user, via="admin")
        db.session.commit()
        flash(gettext("Сеансы завершены: %(n)s.", n=len(users)), "success")

    @action("disable", lazy_gettext("Отключить"), lazy_gettext("Отключить выбранные учётные записи?"))
    def action_disable(self, ids):
        users = [u for u in self.get_query().filter(User.id.in_([int(i) for i in ids])).all()
                 if u.id != current_user.id]
        for user in users:
            user.is_enabled = False
            user.end_sessions()
            audit.record("account_disable", user, via="admin")
        db.session.commit()
        flash(gettext("Отключено учётных записей: %(n)s.", n=len(users)), "success")

    def is_action_allowed(self, name):
        return self.can_edit and super().is_action_allowed(name)


# ---- members -----------------------------------------------------------------------------------------------------


class MemberView(ScopedModelView):
    """Member cards, read-mostly: every read is audited, edits go through operations.update_member."""

    edit_permission = Permission.EDIT_MEMBERS
    export_permission = Permission.EXPORT_MEMBERS
    audit_object_type = "members"

    column_list = ("last_name", "first_name", "patronymic", "birth_date", "org", "category", "status")
    column_details_list = ("last_name", "first_name", "patronymic", "birth_date", "gender", "org", "department",
                           "position", "education", "dues_form", "joined_on", "category", "status",
                           "consent_status", "card_status", "card_number", "address", "phone", "email")
    column_export_list = ("last_name", "first_name", "patronymic", "birth_date", "org", "category", "status",
                          "phone", "email")
    column_labels = {
        "last_name": lazy_gettext("Фамилия"), "first_name": lazy_gettext("Имя"),
        "patronymic": lazy_gettext("Отчество"), "birth_date": lazy_gettext("Дата рождения"),
        "gender": lazy_gettext("Пол"), "org": lazy_gettext("Организация"), "department": lazy_gettext("Подразделение"),
        "position": lazy_gettext("Должность"),
        "education": lazy_gettext("Образование"), "dues_form": lazy_gettext("Форма уплаты взносов"),
        "joined_on": lazy_gettext("Дата вступления"),
        "category": lazy_gettext("Категория"), "status": lazy_gettext("Статус"),
        "consent_status": lazy_gettext("Согласие"), "card_status": lazy_gettext("Билет"),
        "card_number": lazy_gettext("Номер билета"), "address": lazy_gettext("Адрес"),
        "phone": lazy_gettext("Телефон"), "email": "E-mail",
        "last_name_folded": lazy_gettext("Фамилия"),
    }
    column_formatters = {name: _title for name in ("gender", "education", "dues_form", "category", "status",
                                                   "consent_status", "card_status")}
    column_formatters["card_number"] = _masked_card
    column_formatters_export = {name: _export_title for name in ("category", "status")}
    column_searchable_list = ("last_name_folded",)
    column_sortable_list = (("last_name", "last_name_folded"), "birth_date")
    column_default_sort = "last_name_folded"

    def search_placeholder(self):
        return gettext("Фамилия")

    def _apply_search(self, query, count_query, joins, count_joins, search):
        from portal.text import fold

        return super()._apply_search(query, count_query, joins, count_joins, fold(search))

    def get_edit_form(self):
        return MemberForm

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if request.method == "GET" and obj is not None:
            for name in MemberForm.ENUMS:
                form[name].data = getattr(obj, name).value
        return form

    def update_model(self, form, model):
        if not policy.can_edit_member(current_user, model):
            return self.refuse(gettext("Недостаточно прав для изменения этой карточки."))
        try:
            ops.update_member(current_user, model, form.typed_data())
        except ops.RegistryError as e:
            return self.refuse(e.message)
        db.session.commit()
        return True


# ---- the audit log and correction requests --------------------------------------------------------------------


class AuditLogView(ScopedModelView):
    """The audit log, read-only, for those with VIEW_AUDIT (a regional chair: entries about their region)."""

    required_permissions = (Permission.VIEW_AUDIT,)
    export_permission = Permission.VIEW_AUDIT
    can_view_details = True

    column_list = ("at", "actor_login", "action", "object_type", "object_id", "org_id", "address", "outcome",
                   "details")
    column_export_list = column_list
    column_labels = {"at": lazy_gettext("Время"), "actor_login": lazy_gettext("Кто"),
                     "action": lazy_gettext("Действие"), "object_type": lazy_gettext("Объект"),
                     "object_id": lazy_gettext("Код объекта"), "org_id": lazy_gettext("Организация"),
                     "address": lazy_gettext("Адрес"), "outcome": lazy_gettext("Итог"),
                     "details": lazy_gettext("Подробности")}
    # Names, not numbers: the object, the organisation and the ids in the details (inside the viewer's scope).
    column_formatters = {"details": audit_details, "object_id": audit_object, "org_id": audit_org}
    column_formatters_detail = column_formatters
    column_formatters_export = {}  # the exported log keeps the raw ids and JSON, for machines
    column_searchable_list = ("actor_login", "action")
    column_sortable_list = ("at", "actor_login", "action")
    column_default_sort = ("id", True)


class CorrectionRequestView(ScopedModelView):
    """Correction requests of the organisations in scope (answered on the registry's queue page)."""

    export_permission = Permission.RESOLVE_CORRECTIONS

    column_list = ("org", "to_org", "text", "status", "answer", "created_at", "resolved_at")
    column_export_list = column_list
    column_labels = {"org": lazy_gettext("От организации"), "to_org": lazy_gettext("Кому"),
                     "text": lazy_gettext("Что исправить"), "status": lazy_gettext("Состояние"),
                     "answer": lazy_gettext("Ответ"), "created_at": lazy_gettext("Отправлен"),
                     "resolved_at": lazy_gettext("Рассмотрен")}
    column_formatters = {"status": _title}
    column_sortable_list = ("created_at",)
    column_default_sort = ("id", True)


# ---- registration ----------------------------------------------------------------------------------------------


VIEWS = (
    (OrganisationView, Organisation, lazy_gettext("Организации"), "organisations"),
    (UserView, User, lazy_gettext("Учётные записи"), "users"),
    (MemberView, Member, lazy_gettext("Члены Профсоюза"), "members"),
    (CorrectionRequestView, CorrectionRequest, lazy_gettext("Запросы на исправление"), "corrections"),
    (AuditLogView, AuditEntry, lazy_gettext("Журнал аудита"), "audit"),
)


def register(app) -> Admin:
    """Mount the back office at /admin (Russian, Bootstrap 4 theme); every view is a ScopedModelView."""
    admin = Admin(app, name=lazy_gettext("Профпортал: администрирование"), url="/admin",
                  index_view=ScopedIndexView(name=lazy_gettext("Главная"), url="/admin", endpoint="admin"),
                  theme=Bootstrap4Theme(base_template="admin_portal/base.html"))
    for view_class, model, name, endpoint in VIEWS:
        admin.add_view(view_class(model, name=name, endpoint=endpoint))
    admin.add_link(MenuLink(lazy_gettext("Вернуться в реестр"), url="/"))
    # Templates of our own admin pages (no routes, no static files).
    app.register_blueprint(Blueprint("admin_portal", __name__,
                                     template_folder=str(Path(__file__).parent / "templates")))
    return admin

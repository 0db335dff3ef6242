"""Who sees what: the one place that decides access to organisations, members and accounts.

Every query for organisations and members in views, exports, search, type-ahead, imports and the admin goes
through the functions here. A user's scope is the subtree of their organisation (a primary chair's subtree is
the primary itself). An object outside the scope answers 404 exactly like a missing one (`abort_not_found`),
and the denial is audited.

Permissions are declared once with a readable title and granted to roles in one map (Plone's rolemap).
"""

from __future__ import annotations

from flask import abort
from sqlalchemy import Select, false, select, true

from portal import audit
from portal.auth.models import Role, User
from portal.extensions import db
from portal.registry.models import OrgLevel, Member, Organisation
from portal.text import like_prefix


class Permission:
    """Permission ids with their titles (shown on the accounts page)."""

    VIEW_REGISTRY = "view_registry"
    EDIT_MEMBERS = "edit_members"
    EDIT_PASSPORT = "edit_passport"
    IMPORT_MEMBERS = "import_members"
    EXPORT_MEMBERS = "export_members"
    MANAGE_ACCOUNTS = "manage_accounts"
    MANAGE_ORGS = "manage_orgs"
    RESOLVE_CORRECTIONS = "resolve_corrections"
    BACK_OFFICE = "back_office"
    VIEW_AUDIT = "view_audit"

    TITLES = {
        VIEW_REGISTRY: "Просмотр реестра своей организации и нижестоящих",
        EDIT_MEMBERS: "Ведение учётных карточек членов Профсоюза",
        EDIT_PASSPORT: "Заполнение паспорта организации",
        IMPORT_MEMBERS: "Загрузка списков членов Профсоюза",
        EXPORT_MEMBERS: "Выгрузка списков членов Профсоюза",
        MANAGE_ACCOUNTS: "Создание учётных записей председателей нижестоящих организаций",
        MANAGE_ORGS: "Создание и перенос организаций",
        RESOLVE_CORRECTIONS: "Рассмотрение запросов на исправление",
        BACK_OFFICE: "Административный раздел",
        VIEW_AUDIT: "Просмотр журнала аудита",
    }


_CHAIR = {Permission.VIEW_REGISTRY, Permission.EDIT_MEMBERS, Permission.EDIT_PASSPORT, Permission.IMPORT_MEMBERS,
          Permission.EXPORT_MEMBERS}
_HIGHER = _CHAIR | {Permission.MANAGE_ACCOUNTS, Permission.RESOLVE_CORRECTIONS}

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.PRIMARY_CHAIR: frozenset(_CHAIR),
    Role.TERRITORIAL_CHAIR: frozenset(_HIGHER),
    Role.REGIONAL_STAFF: frozenset(_HIGHER | {Permission.BACK_OFFICE}),
    Role.REGIONAL_CHAIR: frozenset(_HIGHER | {Permission.BACK_OFFICE, Permission.MANAGE_ORGS, Permission.VIEW_AUDIT}),
    Role.CENTRAL_ADMIN: frozenset(set(Permission.TITLES)),
}

# The roles an account-maker may give, by the level of the organisation the account is for.
ROLES_FOR_LEVEL: dict[OrgLevel, tuple[Role, ...]] = {
    OrgLevel.PRIMARY: (Role.PRIMARY_CHAIR,),
    OrgLevel.TERRITORIAL: (Role.TERRITORIAL_CHAIR,),
    OrgLevel.REGIONAL: (Role.REGIONAL_CHAIR, Role.REGIONAL_STAFF),
    OrgLevel.CENTRAL: (Role.CENTRAL_ADMIN,),
}


def has_permission(user: User | None, permission: str) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return permission in ROLE_PERMISSIONS.get(user.role, frozenset())


def is_central(user: User) -> bool:
    return user.org.level == OrgLevel.CENTRAL


# ---- organisations ---------------------------------------------------------------------------------------------


def org_scope(user: User):
    """A SQL condition on Organisation: inside the user's subtree."""
    if is_central(user):
        return true()
    return Organisation.path.like(like_prefix(user.org.path), escape="\\")


def visible_orgs(user: User) -> Select:
    """select(Organisation) limited to the user's scope."""
    return select(Organisation).where(org_scope(user))


def visible_org_ids(user: User) -> Select:
    """select(Organisation.id) for the user's scope, to be used as a subquery."""
    return select(Organisation.id).where(org_scope(user))


def org_in_scope(user: User, org: Organisation | None) -> bool:
    if org is None:
        return False
    return is_central(user) or org.path.startswith(user.org.path)


def abort_not_found(object_type: str = "", object_id=None, *, user: User | None = None):
    """Answer 404 the same way for a missing object and a foreign one; audit the denial if it was foreign."""
    if user is not None and object_id is not None:
        audit.record("denied", object_type=object_type, object_id=object_id, outcome="denied", actor=user)
        db.session.commit()
    abort(404)


def get_org(user: User, org_id) -> Organisation:
    """The organisation if the user may see it; 404 otherwise (missing and foreign alike)."""
    try:
        org_id = int(org_id)
    except (TypeError, ValueError):
        abort(404)
    org = db.session.get(Organisation, org_id)
    if org is None:
        abort(404)
    if not org_in_scope(user, org):
        abort_not_found("organisations", org_id, user=user)
    return org


def can_edit_org(user: User, org: Organisation) -> bool:
    return has_permission(user, Permission.EDIT_PASSPORT) and org_in_scope(user, org)


def org_below(user: User, org: Organisation) -> bool:
    """Strictly below the user's own organisation (the ones whose chairs the user creates accounts for)."""
    return org.id != user.org_id and org_in_scope(user, org)


def transfer_targets(user: User) -> Select:
    """Primaries a member may be transferred to by this user.

    A primary chair may transfer to any primary under the same higher organisation (a school to another school of
    the same city); anything further goes through the organisation above. Others: any primary in their scope.
    """
    q = select(Organisation).where(Organisation.level == OrgLevel.PRIMARY)
    if user.org.level == OrgLevel.PRIMARY and user.org.parent is not None:
        return q.where(Organisation.path.like(like_prefix(user.org.parent.path), escape="\\"))
    return q.where(org_scope(user))


# ---- members ---------------------------------------------------------------------------------------------------


def member_scope(user: User):
    """A SQL condition on Member: registered in an organisation of the user's subtree."""
    if is_central(user):
        return true()
    if user.org.level == OrgLevel.PRIMARY:
        return Member.org_id == user.org_id
    return Member.org_id.in_(visible_org_ids(user))


def visible_members(user: User) -> Select:
    if not has_permission(user, Permission.VIEW_REGISTRY):
        return select(Member).where(false())
    return select(Member).where(member_scope(user))


def get_member(user: User, member_id) -> Member:
    """The member if the user may see them; 404 otherwise (missing and foreign alike)."""
    try:
        member_id = int(member_id)
    except (TypeError, ValueError):
        abort(404)
    member = db.session.get(Member, member_id)
    if member is None:
        abort(404)
    if not (has_permission(user, Permission.VIEW_REGISTRY) and org_in_scope(user, member.org)):
        abort_not_found("members", member_id, user=user)
    return member


def can_edit_member(user: User, member: Member) -> bool:
    return has_permission(user, Permission.EDIT_MEMBERS) and org_in_scope(user, member.org)


# ---- accounts --------------------------------------------------------------------------------------------------


def visible_users(user: User) -> Select:
    """Accounts the user manages: those of organisations strictly below theirs (and, for central admins, all)."""
    if not has_permission(user, Permission.MANAGE_ACCOUNTS):
        return select(User).where(false())
    q = select(User).join(User.org).where(org_scope(user))
    if not is_central(user):
        q = q.where(User.org_id != user.org_id)
    return q


def get_user(user: User, user_id) -> User:
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        abort(404)
    target = db.session.get(User, user_id)
    if target is None:
        abort(404)
    allowed = has_permission(user, Permission.MANAGE_ACCOUNTS) and (
        is_central(user) or org_below(user, target.org))
    if not allowed:
        abort_not_found("users", user_id, user=user)
    return target


def roles_user_may_grant(user: User, org: Organisation) -> tuple[Role, ...]:
    """Roles `user` may give to an account of `org` (nothing for an organisation outside or not below)."""
    if not has_permission(user, Permission.MANAGE_ACCOUNTS):
        return ()
    if not (is_central(user) or org_below(user, org)):
        return ()
    return ROLES_FOR_LEVEL[org.level]

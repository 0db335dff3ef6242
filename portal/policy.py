"""Who sees what: the one place that decides access to organisations, members and accounts.

Every query for organisations and members in views, exports, search, type-ahead, imports and the admin goes
through the functions here. A user's scope is the subtree of their organisation (a primary chair's subtree is
the primary itself). An object outside the scope answers 404 exactly like a missing one (`abort_not_found`),
and the denial is audited.

Permissions are declared once with a readable title and granted to roles in one map (Plone's rolemap).
"""

from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user, login_required
from sqlalchemy import Select, and_, any_, false, func, select, true
from werkzeug.routing import IntegerConverter

from portal import audit
from portal.audit import AuditEntry
from portal.auth.models import Role, User
from portal.extensions import db
from portal.registry.models import CorrectionRequest, Member, Organisation, OrgLevel
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
    VIEW_AID = "view_aid"
    FILE_AID = "file_aid"
    REVIEW_AID = "review_aid"
    DECIDE_AID = "decide_aid"
    OVERRIDE_AID = "override_aid"
    PAY_AID = "pay_aid"
    EDIT_AID_REGULATION = "edit_aid_regulation"
    READ_NEWS = "read_news"
    EDIT_NEWS = "edit_news"
    SEND_MAILINGS = "send_mailings"

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
        VIEW_AID: "Просмотр ходатайств о материальной помощи на санаторно-курортное лечение",
        FILE_AID: "Подача ходатайств о материальной помощи за членов своей организации",
        REVIEW_AID: "Проверка ходатайств аппаратом региональной организации",
        DECIDE_AID: "Решение Президиума по ходатайствам о материальной помощи",
        OVERRIDE_AID: "Решение председателя региональной организации на иных условиях (п. 4.5)",
        PAY_AID: "Выплата материальной помощи и реестр на оплату",
        EDIT_AID_REGULATION: "Изменение положения о материальной помощи (новая редакция)",
        READ_NEWS: "Чтение новостей своей организации и нижестоящих",
        EDIT_NEWS: "Подготовка, публикация и архивирование новостей своей организации и нижестоящих",
        SEND_MAILINGS: "Рассылки по плану коммуникаций",
    }


_CHAIR = {Permission.VIEW_REGISTRY, Permission.EDIT_MEMBERS, Permission.EDIT_PASSPORT, Permission.IMPORT_MEMBERS,
          Permission.EXPORT_MEMBERS, Permission.READ_NEWS}
_HIGHER = _CHAIR | {Permission.MANAGE_ACCOUNTS, Permission.RESOLVE_CORRECTIONS}

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.PRIMARY_CHAIR: frozenset(_CHAIR | {Permission.VIEW_AID, Permission.FILE_AID}),
    Role.TERRITORIAL_CHAIR: frozenset(_HIGHER | {Permission.VIEW_AID}),
    Role.REGIONAL_STAFF: frozenset(_HIGHER | {Permission.BACK_OFFICE, Permission.VIEW_AID, Permission.REVIEW_AID,
                                              Permission.EDIT_AID_REGULATION}),
    Role.REGIONAL_CHAIR: frozenset(_HIGHER | {Permission.BACK_OFFICE, Permission.MANAGE_ORGS, Permission.VIEW_AUDIT,
                                              Permission.VIEW_AID, Permission.REVIEW_AID, Permission.OVERRIDE_AID,
                                              Permission.EDIT_AID_REGULATION}),
    # The presidium and the accountant see petitions only, not the registry (152-FZ: no more than the task needs).
    Role.PRESIDIUM_MEMBER: frozenset({Permission.VIEW_AID, Permission.DECIDE_AID, Permission.READ_NEWS}),
    Role.ACCOUNTANT: frozenset({Permission.VIEW_AID, Permission.PAY_AID, Permission.READ_NEWS}),
    # The news editor writes news and mailings; no registry access (a mailing's recipients are counted, not shown).
    Role.NEWS_EDITOR: frozenset({Permission.READ_NEWS, Permission.EDIT_NEWS, Permission.SEND_MAILINGS}),
    Role.CENTRAL_ADMIN: frozenset(set(Permission.TITLES)),
}

# The roles an account-maker may give, by the level of the organisation the account is for.
ROLES_FOR_LEVEL: dict[OrgLevel, tuple[Role, ...]] = {
    OrgLevel.PRIMARY: (Role.PRIMARY_CHAIR,),
    OrgLevel.TERRITORIAL: (Role.TERRITORIAL_CHAIR,),
    OrgLevel.REGIONAL: (Role.REGIONAL_CHAIR, Role.REGIONAL_STAFF, Role.PRESIDIUM_MEMBER, Role.ACCOUNTANT,
                        Role.NEWS_EDITOR),
    OrgLevel.CENTRAL: (Role.CENTRAL_ADMIN, Role.NEWS_EDITOR),
}


def has_permission(user: User | None, permission: str) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return permission in ROLE_PERMISSIONS.get(user.role, frozenset())


# The declared "permission" of a page any logged-in staff member may open (their start page, their own password).
LOGGED_IN = "logged_in"


def requires(permission: str):
    """Declare and enforce the permission an endpoint needs: without it the page answers 404 before the view runs.

    Every view of the portal carries one (tests/test_access_matrix.py fails for an endpoint without a declaration
    and checks that each role lacking the permission gets 404). Scope (which organisation) is still the view's
    business through `get_org`, `get_member`, …: the two checks together are permission × scope. Put it under
    `@bp.route` (and under `login_required`), so the route registers the checking function.
    """
    def decorate(view):
        @wraps(view)
        def checked(*args, **kwargs):
            if permission != LOGGED_IN:
                require(current_user, permission)
            return view(*args, **kwargs)

        checked.required_permission = permission
        return checked

    return decorate


def required_permission(view) -> str | None:
    """The permission an endpoint's view function declares (None: undeclared)."""
    return getattr(view, "required_permission", None)


def is_member_principal(user) -> bool:
    """A member's account (the cabinet) rather than a staff account."""
    return bool(getattr(user, "is_member", False))


def _refuse_members():
    if is_member_principal(current_user):
        abort(404)
    return None


def staff_only(blueprint) -> None:
    """Every page of the blueprint is for logged-in staff: anonymous visitors are sent to the login page, and a
    member's session answers 404 (a member is logged in, but no staff page exists for them)."""
    blueprint.before_request(login_required(_refuse_members))


# Blueprints of the member's side; every other blueprint (but the public ones) is a staff area.
MEMBER_BLUEPRINTS = frozenset({"cabinet"})
# Open to everyone, whoever is logged in: static files, the language switch, and the API (bearer tokens, no session).
SHARED_BLUEPRINTS = frozenset({None, "bootstrap", "i18n", "api", "verify", "public_news"})


def separate_principals():
    """App-wide (before every request): a member's session never opens a staff page and a staff session never opens
    the cabinet — both answer 404, like a page that is not there. The blueprints' own hooks say the same; this one
    also covers the back office and any blueprint added later (fail closed: unknown blueprints are staff areas)."""
    from flask import request

    if not current_user or not current_user.is_authenticated:
        return None
    blueprint = request.blueprint
    if blueprint in SHARED_BLUEPRINTS:
        return None
    member = is_member_principal(current_user)
    if member != (blueprint in MEMBER_BLUEPRINTS):
        abort(404)
    return None


def require(user: User | None, permission: str) -> None:
    """Abort with 404 unless the user holds the permission: a page one may not use looks like one that is not there."""
    if not has_permission(user, permission):
        abort(404)


def is_central(user: User) -> bool:
    return user.org.level == OrgLevel.CENTRAL


# The largest id the INTEGER primary keys hold; anything bigger would make PostgreSQL fail the query (a 500).
MAX_ID = 2**31 - 1


def parse_id(value) -> int | None:
    """An object id from a URL, a query string or a form: ASCII digits within the key range, otherwise None.

    `int()` alone would accept "+5", " 5", "٥" and ids too large for the column, which PostgreSQL rejects with
    an error instead of "not found".
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    else:
        text = str(value) if value is not None else ""
        if not (text.isascii() and text.isdigit()) or len(text) > 10:
            return None
        number = int(text)
    return number if 0 < number <= MAX_ID else None


class IdConverter(IntegerConverter):
    """`<int:…>` in a URL is a database id: beyond the key range it matches no page (404), never a failed query."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


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
    """select(Organisation.id) for the user's scope, to be used as a subquery.

    Never correlated: inside a query that already joins organisations (a search or sort by organisation name),
    auto-correlation would silently turn "in my subtree" into a condition on the joined row.
    """
    return select(Organisation.id).where(org_scope(user)).correlate(None)


def org_in_scope(user: User, org: Organisation | None) -> bool:
    if org is None:
        return False
    return is_central(user) or org.path.startswith(user.org.path)


def abort_not_found(object_type: str = "", object_id=None, *, user: User | None = None, missing: bool = False):
    """Answer 404 the same way for a missing object and a foreign one, in status, body AND time: both are audited
    as a denial (a missing id with `missing=True`), so neither answer skips the audit write and a stopwatch cannot
    tell an existing foreign id from a free one (issue 10, item 9).

    Whatever the request changed before the denial is rolled back first, so recording the denial never commits it.
    """
    if user is not None and object_id is not None and getattr(user, "is_authenticated", False):
        actor_id, actor_login, org_id = user.id, user.login, user.org_id
        db.session.rollback()
        # org_id is the denied user's organisation: their region's audit shows the probe, the target's does not.
        details = {"missing": True} if missing else {}
        audit.record("denied", object_type=object_type, object_id=object_id, org_id=org_id, outcome="denied",
                     actor=_ActorRef(actor_id, actor_login), **details)
        db.session.commit()
    abort(404)


class _ActorRef:
    """Who was denied, captured before the rollback (which expires the loaded account)."""

    def __init__(self, id: int, login: str):
        self.id, self.login = id, login


def get_org(user: User, org_id) -> Organisation:
    """The organisation if the user may see it; 404 otherwise (missing and foreign alike)."""
    org_id = parse_id(org_id)
    if org_id is None:
        abort(404)
    org = db.session.get(Organisation, org_id)
    if org is None:
        abort_not_found("organisations", org_id, user=user, missing=True)
    if not org_in_scope(user, org):
        abort_not_found("organisations", org_id, user=user)
    return org


def get_scoped(user: User, model, object_id, org_of, permission: str = Permission.VIEW_REGISTRY):
    """An object that belongs to an organisation (`org_of(obj)`: a card request's, a card's member's), if the user
    holds `permission` and the organisation is in scope; 404 otherwise, missing and foreign alike."""
    pk = parse_id(object_id)
    if pk is None or not has_permission(user, permission):
        abort(404)
    obj = db.session.get(model, pk)
    if obj is None:
        abort_not_found(model.__tablename__, pk, user=user, missing=True)
    if not org_in_scope(user, org_of(obj)):
        abort_not_found(model.__tablename__, pk, user=user)
    return obj


def deny_if_foreign(user: User, object_type: str, object_id: int, org: Organisation | None) -> None:
    """Audit and 404 an object whose organisation is outside the user's scope (one asked for under another parent:
    a scan under one's own member, an attachment under one's own petition); otherwise return."""
    if not org_in_scope(user, org):
        abort_not_found(object_type, object_id, user=user)


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


def member_scope(user: User, within: Organisation | None = None):
    """A SQL condition on Member: registered in an organisation of the user's subtree (and of `within`'s, if given).

    `within` (a page of one organisation's members) must itself be in the user's scope, or nothing matches; its
    subtree is then the whole condition, so the query names the subtree once instead of twice.
    """
    if within is not None:
        if not org_in_scope(user, within):
            return false()
        if within.level == OrgLevel.PRIMARY:
            return Member.org_id == within.id
        return member_org_in(select(Organisation.id).where(
            Organisation.path.like(like_prefix(within.path), escape="\\")).correlate(None))
    if is_central(user):
        return true()
    if user.org.level == OrgLevel.PRIMARY:
        return Member.org_id == user.org_id
    return member_org_in(visible_org_ids(user))


def member_org_in(org_ids: Select):
    """Member.org_id among the ids `org_ids` selects.

    On PostgreSQL written `org_id = ANY(ARRAY(subquery))`: the ids are an initplan computed first, then each is
    probed on (org_id, last_name_folded). With `IN (subquery)` the plan hinged on the row estimate of
    `path LIKE 'prefix%'`, often far off, and for some subtrees read a thousand organisations (bench/RESULTS.md).
    """
    if db.session.get_bind().dialect.name == "postgresql":
        return Member.org_id == any_(func.array(org_ids.scalar_subquery()))
    return Member.org_id.in_(org_ids)


def visible_members(user: User) -> Select:
    if not has_permission(user, Permission.VIEW_REGISTRY):
        return select(Member).where(false())
    return select(Member).where(member_scope(user))


def get_member(user: User, member_id) -> Member:
    """The member if the user may see them; 404 otherwise (missing and foreign alike)."""
    member_id = parse_id(member_id)
    if member_id is None:
        abort(404)
    member = db.session.get(Member, member_id)
    if member is None:
        abort_not_found("members", member_id, user=user, missing=True)
    if not (has_permission(user, Permission.VIEW_REGISTRY) and org_in_scope(user, member.org)):
        abort_not_found("members", member_id, user=user)
    return member


def can_edit_member(user: User, member: Member) -> bool:
    return has_permission(user, Permission.EDIT_MEMBERS) and org_in_scope(user, member.org)


# ---- accounts --------------------------------------------------------------------------------------------------


def user_scope(user: User):
    """A SQL condition on User: accounts the user manages (organisations strictly below theirs; central: all)."""
    if not has_permission(user, Permission.MANAGE_ACCOUNTS):
        return false()
    if is_central(user):
        return true()
    return and_(User.org_id.in_(visible_org_ids(user)), User.org_id != user.org_id)


def visible_users(user: User) -> Select:
    """Accounts the user manages: those of organisations strictly below theirs (and, for central admins, all)."""
    return select(User).where(user_scope(user))


def get_user(user: User, user_id) -> User:
    """An account the user manages; 404 otherwise (missing and foreign alike)."""
    user_id = parse_id(user_id)
    if user_id is None:
        abort(404)
    target = db.session.get(User, user_id)
    if target is None:
        abort_not_found("users", user_id, user=user, missing=True)
    if not can_manage_account(user, target):
        abort_not_found("users", user_id, user=user)
    return target


def roles_user_may_grant(user: User, org: Organisation) -> tuple[Role, ...]:
    """Roles `user` may give to an account of `org` (nothing for an organisation outside or not below)."""
    if not has_permission(user, Permission.MANAGE_ACCOUNTS):
        return ()
    if not (is_central(user) or org_below(user, org)):
        return ()
    return ROLES_FOR_LEVEL[org.level]


def can_manage_account(user: User, target: User) -> bool:
    return has_permission(user, Permission.MANAGE_ACCOUNTS) and (is_central(user) or org_below(user, target.org))


# ---- organisations: creating and moving ---------------------------------------------------------------------


def can_create_org_under(user: User, parent: Organisation | None) -> bool:
    """New organisations go under a parent in the user's scope (a regional chair: their region and below)."""
    return has_permission(user, Permission.MANAGE_ORGS) and parent is not None and org_in_scope(user, parent)


def can_move_org(user: User, org: Organisation, new_parent: Organisation | None = None) -> bool:
    """Only organisations strictly below the user's own move, and only to a parent in the user's scope."""
    if not has_permission(user, Permission.MANAGE_ORGS) or org.parent_id is None:
        return False
    if not (is_central(user) or org_below(user, org)):
        return False
    return new_parent is None or org_in_scope(user, new_parent)


def can_delete_org(user: User, org: Organisation) -> bool:
    """Deleting is for mistakes only: the organisation must be strictly below the user's own (emptiness is checked
    by the caller)."""
    return can_move_org(user, org)


# ---- the audit log and correction requests ----------------------------------------------------------------------


def audit_scope(user: User):
    """A SQL condition on AuditEntry: entries about organisations in the user's scope (central: all)."""
    if not has_permission(user, Permission.VIEW_AUDIT):
        return false()
    if is_central(user):
        return true()
    return AuditEntry.org_id.in_(visible_org_ids(user))


def correction_scope(user: User):
    """A SQL condition on CorrectionRequest: requests from organisations in the user's scope."""
    if is_central(user):
        return true()
    return CorrectionRequest.org_id.in_(visible_org_ids(user))


# ---- one scope per model, for generic consumers (the back office, type-ahead) -------------------------------------


def scope_for(model, user: User):
    """The SQL condition limiting `model` to what `user` may see; an unknown model is an error (fail closed)."""
    if model is Organisation:
        return org_scope(user) if has_permission(user, Permission.VIEW_REGISTRY) else false()
    if model is Member:
        return member_scope(user) if has_permission(user, Permission.VIEW_REGISTRY) else false()
    if model is User:
        return user_scope(user)
    if model is AuditEntry:
        return audit_scope(user)
    if model is CorrectionRequest:
        return correction_scope(user) if has_permission(user, Permission.VIEW_REGISTRY) else false()
    raise LookupError(f"No access scope is defined for {model!r}; add it to portal.policy.scope_for.")


# ---- material aid -------------------------------------------------------------------------------------------------


def aid_scope(user: User):
    """A SQL condition on AidPetition: petitions of organisations in the user's subtree (central: all)."""
    from portal.aid.models import AidPetition

    if not has_permission(user, Permission.VIEW_AID):
        return false()
    if is_central(user):
        return true()
    if user.org.level == OrgLevel.PRIMARY:
        return AidPetition.org_id == user.org_id
    return AidPetition.org_id.in_(visible_org_ids(user))


def petition_in_scope(user: User, petition) -> bool:
    return has_permission(user, Permission.VIEW_AID) and org_in_scope(user, petition.org)


def get_petition(user: User, petition_id):
    """The aid petition if the user may see it; 404 otherwise (missing and foreign alike)."""
    from portal.aid.models import AidPetition

    petition_id = parse_id(petition_id)
    if petition_id is None:
        abort(404)
    if not has_permission(user, Permission.VIEW_AID):
        abort(404)
    petition = db.session.get(AidPetition, petition_id)
    if petition is None:
        abort_not_found("aid_petitions", petition_id, user=user, missing=True)
    if not org_in_scope(user, petition.org):
        abort_not_found("aid_petitions", petition_id, user=user)
    return petition


# ---- news (SPEC §8) -----------------------------------------------------------------------------------------------


def news_reader_scope(user):
    """The search_index.Scope of a staff reader: items aimed at everyone, at their organisation or one above it,
    or inside their subtree; archives included. Central staff read every item."""
    from search_index import Scope, ancestor_paths

    if is_central(user):
        return Scope(ancestors=None, archives=True)
    return Scope(ancestors=ancestor_paths(user.org.path), subtree=user.org.path, archives=True)


def news_item_in_scope(user, item) -> bool:
    """An editor acts on items written by organisations in their subtree."""
    return has_permission(user, Permission.EDIT_NEWS) and org_in_scope(user, item.org)


def get_news_for_edit(user, news_id):
    """A news item the user may edit; 404 otherwise (missing and foreign alike)."""
    from portal.news.models import NewsItem

    return get_scoped(user, NewsItem, news_id, lambda item: item.org, Permission.EDIT_NEWS)


def news_edit_scope(user):
    """A SQL condition on NewsItem: items of organisations in the editor's subtree."""
    from portal.news.models import NewsItem

    if not has_permission(user, Permission.EDIT_NEWS):
        return false()
    if is_central(user):
        return true()
    return NewsItem.org_id.in_(visible_org_ids(user))

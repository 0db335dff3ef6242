"""The scoped base of every back-office view.

Flask-Admin filters rows only where a view remembers to (flask-admin issue 1739: a view overriding `get_query`
but not `get_one` opens `/edit/?id=<foreign id>`). Here every way a view reaches rows is scoped once, through
`portal.policy.scope_for(model, user)`:

- access: `is_accessible` needs BACK_OFFICE (plus the view's own permissions); otherwise 404, never a redirect that
  tells a logged-in user the page exists (anonymous users are sent to the login page like everywhere else);
- rows: `get_query`, `get_count_query` and `get_one` (used by edit, details and delete) see the scope only; an id
  outside it answers 404 exactly like a missing one, and the denial is audited;
- actions: ids outside the scope are dropped before any action runs;
- type-ahead: every `form_ajax_refs` loader is a `ScopedAjaxLoader` (scoped list and scoped `get_one`);
- exports: the scoped list only, with cells starting with = + - @ neutralised;
- forms: Flask-WTF forms (CSRF-protected); what a role may create, edit, delete or export is a permission of
  the view, and each view saves through the registry's operations, never through a blind `populate_obj`.
"""

from __future__ import annotations

from flask import abort, flash, has_request_context, redirect, request, url_for
from flask_admin import AdminIndexView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from flask_admin.helpers import flash_errors, get_redirect_target
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import false, func

from forms import BaseForm
from portal import audit, policy
from portal.admin.formatting import DETAIL_TYPE_FORMATTERS, EXPORT_TYPE_FORMATTERS, TYPE_FORMATTERS
from portal.extensions import db
from portal.policy import Permission
from portal.spreadsheets import csv_cell


def neutralise_cell(value):
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe (the portal's one CSV rule,
    portal/spreadsheets.py); other values pass unchanged."""
    return csv_cell(value) if isinstance(value, str) else value


def _user():
    return current_user if has_request_context() else None


def _allowed(*permissions: str | None) -> bool:
    """All the permissions held by the current user; a None permission means "nobody"."""
    user = _user()
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return all(p is not None and policy.has_permission(user, p) for p in permissions)


def _commit_keeping_objects() -> None:
    """Commit an audit entry written during a read without expiring the rows about to be rendered."""
    session = db.session()
    before = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = before


class _ScopedAccess:
    """Access shared by the index page and every model view."""

    # Permissions needed on top of BACK_OFFICE to open the view at all (e.g. VIEW_AUDIT for the audit log).
    required_permissions: tuple[str, ...] = ()

    def is_accessible(self) -> bool:
        return _allowed(Permission.BACK_OFFICE, *self.required_permissions)

    def is_visible(self) -> bool:
        return self.is_accessible()

    def inaccessible_callback(self, name, **kwargs):
        """Anonymous: the login page, as anywhere in the portal. Logged in without the right: 404, like no page."""
        user = _user()
        if user is None or not user.is_authenticated:
            return redirect(url_for("auth.login", next=request.path))
        abort(404)


class ScopedIndexView(_ScopedAccess, AdminIndexView):
    """The back office's start page: what the user may open here, with counts inside their scope."""

    @expose("/")
    def index(self):
        cards = []
        for view in self.admin._views:
            if isinstance(view, ScopedModelView) and view.is_accessible():
                cards.append({"name": view.name, "url": url_for(f"{view.endpoint}.index_view"),
                              "count": view.get_count_query().scalar()})
        return self.render("admin_portal/index.html", cards=cards)


class ScopedAjaxLoader(QueryAjaxModelLoader):
    """Type-ahead over the rows of `model` the current user may see; `narrow(user)` may restrict them further."""

    MAX_LIMIT = 50

    def __init__(self, name, session, model, narrow=None, **options):
        super().__init__(name, session, model, **options)
        self.narrow = narrow

    def get_query(self):
        user = _user()
        if user is None or not user.is_authenticated:
            return db.session.query(self.model).filter(false())
        query = db.session.query(self.model).filter(policy.scope_for(self.model, user))
        if self.narrow is not None:
            query = query.filter(self.narrow(user))
        return query

    def get_one(self, pk):
        pk = policy.parse_id(pk)
        if pk is None:
            return None
        with db.session.no_autoflush:
            return self.get_query().filter(self.model.id == pk).one_or_none()

    def get_list(self, term, offset=0, limit=10):
        limit = min(max(int(limit or 10), 1), self.MAX_LIMIT)
        return super().get_list(term or "", max(int(offset or 0), 0), limit)


class ScopedModelView(_ScopedAccess, ModelView):
    """The one base class of every back-office model view (a test fails for any view that does not inherit it)."""

    form_base_class = BaseForm
    # Who may do what beyond reading the list; None = nobody (the default: read-only).
    create_permission: str | None = None
    edit_permission: str | None = None
    delete_permission: str | None = None
    export_permission: str | None = None
    # Reads of personal data through this view go to the audit log under this object type (None = not audited).
    audit_object_type: str | None = None

    can_view_details = True
    can_set_page_size = False
    # Dates as the portal writes them (05.03.2026, Moscow time), in lists, details and exports alike.
    column_type_formatters = TYPE_FORMATTERS
    column_type_formatters_detail = DETAIL_TYPE_FORMATTERS
    column_type_formatters_export = EXPORT_TYPE_FORMATTERS
    page_size = 50
    export_types = ["csv"]
    export_max_rows = 10_000
    column_editable_list = ()  # inline editing would bypass the operations
    action_disallowed_list = ["delete"]  # mass delete would bypass the per-row rules
    form_ajax_refs: dict = {}

    def __init__(self, model, name=None, endpoint=None, **kwargs):
        super().__init__(model, db, name=name, endpoint=endpoint, **kwargs)
        for loader in self._form_ajax_refs.values():
            if not isinstance(loader, ScopedAjaxLoader):
                raise TypeError(f"{type(self).__name__}: every type-ahead loader must be a ScopedAjaxLoader")

    # ---- what the current user may do ---------------------------------------------------------------------------

    @property
    def can_create(self) -> bool:
        return _allowed(self.create_permission)

    @property
    def can_edit(self) -> bool:
        return _allowed(self.edit_permission)

    @property
    def can_delete(self) -> bool:
        return _allowed(self.delete_permission)

    @property
    def can_export(self) -> bool:
        return _allowed(self.export_permission)

    # ---- rows ------------------------------------------------------------------------------------------------

    def scope(self):
        user = _user()
        if user is None or not user.is_authenticated:
            return false()
        return policy.scope_for(self.model, user)

    def get_query(self):
        return db.session.query(self.model).filter(self.scope())

    def get_count_query(self):
        return db.session.query(func.count("*")).select_from(self.model).filter(self.scope())

    def get_one(self, id):
        """The row if it exists and is in scope; None otherwise (missing and foreign alike)."""
        pk = policy.parse_id(id)
        if pk is None:
            return None
        return self.get_query().filter(self.model.id == pk).one_or_none()

    def _deny(self, raw_id):
        """404 for an id that is missing or outside the scope; a foreign one is audited as a denial."""
        pk = policy.parse_id(raw_id)
        if pk is not None:
            # Missing ids are audited too: the two answers take the same time.
            missing = db.session.get(self.model, pk) is None
            policy.abort_not_found(self.model.__tablename__, pk, user=current_user, missing=missing)
        abort(404)

    def _handle_view(self, name, **kwargs):
        if not self.is_accessible():
            return self.inaccessible_callback(name, **kwargs)
        raw_id = None
        if name in ("edit_view", "details_view"):
            raw_id = request.args.get("id")
        elif name == "delete_view" and request.method == "POST":
            raw_id = request.form.get("id", "")
        elif name == "ajax_update" and request.method == "POST":
            raw_id = request.form.get("list_form_pk", "")
        if raw_id is not None:
            model = self.get_one(raw_id)
            if model is None:
                self._deny(raw_id)
            if request.method == "GET" and (name == "details_view" or (name == "edit_view" and self.can_edit)):
                self._audit_read("read", [model])
        return None

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        count, rows = super().get_list(page, sort_column, sort_desc, search, filters, execute=execute,
                                       page_size=page_size)
        if execute:
            kind = "export" if (request.endpoint or "").endswith(".export") else "list"
            self._audit_read(kind, rows, count=count, search=bool(search))
        return count, rows

    def _audit_read(self, kind: str, rows, **details) -> None:
        # Exports are audited in every view (a file leaves the portal); reads and lists where the view says so.
        if not self.audit_object_type and kind != "export":
            return
        object_type = self.audit_object_type or self.model.__tablename__
        if kind == "read":
            row = rows[0]
            audit.record(f"admin_{object_type}_read", row, object_type=object_type)
        else:
            # A list page shows at most a page of rows; an export hands out every row, so every id is named.
            audit.record(f"admin_{object_type}_{kind}", object_type=object_type,
                         org_id=current_user.org_id, ids=[r.id for r in rows], **details)
        _commit_keeping_objects()

    # ---- actions ---------------------------------------------------------------------------------------------

    def ids_in_scope(self, raw_ids) -> list[int]:
        """The ids among `raw_ids` the user may act on; the rest are ignored (and a foreign one is audited)."""
        wanted = {pk for pk in (policy.parse_id(r) for r in raw_ids) if pk is not None}
        if not wanted:
            return []
        inside = {pk for (pk,) in self.get_query().with_entities(self.model.id).filter(self.model.id.in_(wanted))}
        foreign = sorted(wanted - inside)
        if foreign:
            existing = [pk for (pk,) in db.session.query(self.model.id).filter(self.model.id.in_(foreign))]
            if existing:
                audit.record("denied", object_type=self.model.__tablename__, outcome="denied",
                             org_id=current_user.org_id, ids=existing[:100], via="admin_action")
                db.session.commit()
        return sorted(inside)

    def handle_action(self, return_view=None):
        """Run an action on the selected rows that are inside the scope; foreign ids never reach the action."""
        form = self.action_form()
        if self.validate_form(form):
            name = form.action.data
            handler = self._actions_data.get(name)
            if handler and self.is_action_allowed(name):
                ids = self.ids_in_scope(request.form.getlist("rowid"))
                if ids:
                    response = handler[0]([str(i) for i in ids])
                    if response is not None:
                        return response
                else:
                    flash(gettext("Не выбрано ни одной записи."), "warning")
        else:
            flash_errors(form, message=gettext("Не удалось выполнить действие. %(error)s"))
        return redirect(get_redirect_target() or self.get_url(".index_view"))

    # ---- type-ahead ----------------------------------------------------------------------------------------------

    def _create_ajax_loader(self, name, options):
        options = dict(options)
        target = getattr(self.model, name).property.mapper.class_
        return ScopedAjaxLoader(name, db, target, **options)

    # ---- export -----------------------------------------------------------------------------------------------

    def _export_csv(self, return_url):
        """Flask-Admin streams the CSV from a generator that reads the rows' relationships lazily after the view
        has returned and the audit entry committed: on a real server the database session was gone by the second
        chunk and every download stopped after 334 bytes. The file (at most export_max_rows rows) is built here,
        inside the request, and sent whole."""
        response = super()._export_csv(return_url)
        response.make_sequence()
        return response

    def get_export_value(self, model, name):
        return neutralise_cell(super().get_export_value(model, name))

    # ---- forms and saving -------------------------------------------------------------------------------------

    def _order_fields(self, form):
        """Put the form's FIRST fields on top (WTForms orders fields by creation, so inherited ones come first)."""
        for name in reversed(getattr(form, "FIRST", ())):
            if name in form._fields:
                form._fields.move_to_end(name, last=False)
        return form

    def create_form(self, obj=None):
        return self._order_fields(super().create_form(obj))

    def edit_form(self, obj=None):
        return self._order_fields(super().edit_form(obj))

    def refuse(self, message: str) -> bool:
        """Roll back, tell the user why (in Russian) and report that nothing was saved."""
        db.session.rollback()
        flash(message, "error")
        return False

    def create_model(self, form):
        return self.refuse(gettext("Создание записей здесь не предусмотрено."))

    def update_model(self, form, model):
        return self.refuse(gettext("Изменение записей здесь не предусмотрено."))

    def delete_model(self, model):
        return self.refuse(gettext("Удаление записей здесь не предусмотрено."))

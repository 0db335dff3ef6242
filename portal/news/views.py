"""News pages: the editors' list, form, preview and actions; readers' list, item and search (staff of their scope,
members in the cabinet); public pages, RSS 2.0 and Atom feeds (no login); mailings with preview, count and
progress; unsubscribe by a signed link (no login).

Views load through `portal.policy` / the reader scope (404 for missing and foreign alike), validate a form and call
one operation; states change only through the workflow. After a committed change the search index is brought up
to date at once (`search_index.sync`); if that fails, the queued update waits for the worker and search answers
from the database meanwhile.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from feedgen.feed import FeedGenerator
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import defer, lazyload

import search_index
from forms.news import ConfirmForm, MailingForm, NewsForm
from portal import clock, policy
from portal.extensions import db
from portal.files import FileRejected, send_file_inline_image
from portal.news import mailings, pagecache
from portal.news import operations as ops
from portal.news.content import IMAGE_AREA
from portal.news.models import Mailing, NewsCategory, NewsImage, NewsItem, NewsState
from portal.news.readers import PUBLIC_SCOPE, current_member, reader_scope
from portal.policy import Permission
from portal.registry.models import Organisation, OrgLevel
from workflows import NEWS_ITEM, WorkflowError, available, history

bp = Blueprint("news", __name__)
policy.staff_only(bp)
# Pages anyone may open, whoever is logged in (policy.SHARED_BLUEPRINTS): public items and feeds, the search (the
# reader's scope decides), images (their item decides), and unsubscribe links from letters.
public_bp = Blueprint("public_news", __name__)

MOSCOW = ZoneInfo("Europe/Moscow")
PER_PAGE = 20
FEED_SIZE = 30


def _page() -> int:
    value = request.args.get("page", "1")
    return int(value) if value.isascii() and value.isdigit() and 0 < len(value) < 6 and int(value) > 0 else 1


def _category_arg() -> str | None:
    value = request.args.get("category") or None
    return value if value in {c.value for c in NewsCategory} else None


def _require_reader() -> None:
    """Staff who read news (members read in the cabinet: portal.news.member_views)."""
    policy.require(current_user, Permission.READ_NEWS)


def _require_editor() -> None:
    policy.require(current_user, Permission.EDIT_NEWS)


# A listing shows the title, lead, date and rubric: the bodies (a few KB each, twice) and the relations stay unread.
_LISTING_LOAD = (defer(NewsItem.body), defer(NewsItem.body_text), lazyload(NewsItem.org),
                 lazyload(NewsItem.audience_orgs))


def listing(scope, page: int, category: str | None, load=_LISTING_LOAD):
    q = select(NewsItem).where(ops.visible_condition(scope)).options(*load)
    if category:
        q = q.where(NewsItem.category == category)
    # One row past the page says whether there is a next page; no count over every item a region can read.
    rows = list(db.session.scalars(q.order_by(NewsItem.published_at.desc(), NewsItem.id.desc())
                                   .offset((page - 1) * PER_PAGE).limit(PER_PAGE + 1)))
    return rows[:PER_PAGE], len(rows) > PER_PAGE


# ---- readers -------------------------------------------------------------------------------------------------------


@bp.route("/news/")
@policy.requires(Permission.READ_NEWS)
def index():
    """The news meant for the reader, newest first, paged, by rubric (members: the cabinet's feed)."""
    _require_reader()
    page, category = _page(), _category_arg()
    items, more = listing(reader_scope(), page, category)
    return render_template("news/index.html", items=items, more=more, page=page, category=category,
                           categories=list(NewsCategory), endpoint="news.index", **_layout(None))


@bp.route("/news/<int:news_id>")
@policy.requires(Permission.READ_NEWS)
def read(news_id: int):
    """One item, if it is meant for the reader (404 otherwise, like a missing one)."""
    _require_reader()
    item = ops.get_readable(reader_scope(), news_id)
    if item is None:
        _not_found("news_items", news_id, NewsItem)
    return render_template("news/item.html", item=item, preview=False, **_layout(None))


def _not_found(object_type: str, object_id: int, model):
    """404 for a missing object and a foreign one alike; a staff user's probe of an existing one is audited."""
    if current_user.is_authenticated and db.session.get(model, object_id) is not None:
        policy.abort_not_found(object_type, object_id, user=current_user)
    abort(404)


@public_bp.route("/news/search")
def search():
    """Full-text search over what the reader may read (anyone: the public items when not logged in)."""
    text = (request.args.get("q") or "").strip()[:500]
    page, category = _page(), _category_arg()
    scope = reader_scope() if (current_member() or current_user.is_authenticated) else PUBLIC_SCOPE
    results = search_index.search("news", text, scope, page=page, per_page=10, category=category) if text else None
    member = current_member()
    public = not (member or policy.has_permission(current_user, Permission.READ_NEWS))
    return render_template("news/search.html", q=text, results=results, category=category,
                           categories=list(NewsCategory), Markup=Markup, **_layout(member, public))


def _layout(member, public: bool = False) -> dict:
    """Templates and links for the reader: the cabinet's layout for a member, the portal's for staff and public."""
    if member is not None:
        return {"layout": "cabinet/base.html", "item_endpoint": "cabinet.news_item", "list_endpoint": "cabinet.news"}
    if public:
        return {"layout": "base.html", "item_endpoint": "public_news.public_item",
                "list_endpoint": "public_news.public_list"}
    return {"layout": "base.html", "item_endpoint": "news.read", "list_endpoint": "news.index"}


@public_bp.route("/news/images/<int:image_id>")
def image(image_id: int):
    """An item's image, to whoever may read the item (or edit it)."""
    img = db.session.get(NewsImage, image_id)
    if img is None:
        abort(404)
    item = img.item
    allowed = (item.is_public and item.state == NewsState.PUBLISHED) or (
        policy.news_item_in_scope(current_user, item)) or (
        (current_member() or current_user.is_authenticated) and ops.get_readable(reader_scope(), item.id) is not None)
    if not allowed:
        _not_found("news_images", image_id, NewsImage)
    return send_file_inline_image(IMAGE_AREA, img.stored_name, img.mime)


# ---- public --------------------------------------------------------------------------------------------------------


@public_bp.route("/public/news/")
def public_list():
    """Public news: anyone, no login (anonymous readers from the page cache: portal.news.pagecache)."""
    page, category = _page(), _category_arg()

    def render():
        items, more = listing(PUBLIC_SCOPE, page, category)
        return render_template("news/index.html", items=items, more=more, page=page, category=category,
                               categories=list(NewsCategory), endpoint="public_news.public_list", public=True,
                               **_layout(None, public=True))

    return pagecache.serve(render)


@public_bp.route("/public/news/<int:news_id>")
def public_item(news_id: int):
    """A public item's page (no login; anonymous readers from the page cache)."""

    def render():
        item = ops.get_readable(PUBLIC_SCOPE, news_id)
        if item is None:
            abort(404)
        return render_template("news/item.html", item=item, preview=False, public=True,
                               **_layout(None, public=True))

    return pagecache.serve(render)


def _feed() -> FeedGenerator:
    fg = FeedGenerator()
    fg.id(url_for("public_news.public_list", _external=True))
    fg.title(gettext("Новости Профсоюза"))
    fg.subtitle(gettext("Публичные новости Профпортала"))
    fg.language("ru")
    fg.link(href=url_for("public_news.public_list", _external=True), rel="alternate")
    items, _ = listing(PUBLIC_SCOPE, 1, _category_arg(), load=())  # entries show the text and the author
    fg.updated(_aware(items[0].published_at) if items else datetime(2026, 1, 1, tzinfo=UTC))
    for item in reversed(items[:FEED_SIZE]):
        entry = fg.add_entry()
        link = url_for("public_news.public_item", news_id=item.id, _external=True)
        entry.id(link)
        entry.guid(link, permalink=True)
        entry.title(item.title)
        entry.link(href=link)
        entry.published(_aware(item.published_at))
        entry.updated(_aware(item.updated_at or item.published_at))
        entry.category(term=item.category.value, label=item.category.label)
        entry.description(item.lead or item.body_text[:500] or item.title)
        entry.author(name=item.org.short_name or item.org.name)
    return fg


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@public_bp.route("/public/news/feed.rss")
def feed_rss():
    """RSS 2.0 of the public news."""
    def render():
        fg = _feed()
        fg.link(href=url_for("public_news.feed_rss", _external=True), rel="self")
        fg.description(gettext("Публичные новости Профпортала"))
        return fg.rss_str(pretty=True)

    return pagecache.serve(render, "application/rss+xml")


@public_bp.route("/public/news/feed.atom")
def feed_atom():
    """Atom 1.0 of the public news."""
    def render():
        fg = _feed()
        fg.link(href=url_for("public_news.feed_atom", _external=True), rel="self")
        return fg.atom_str(pretty=True)

    return pagecache.serve(render, "application/atom+xml")


# ---- editors -------------------------------------------------------------------------------------------------------


@bp.route("/news/edit/")
@policy.requires(Permission.EDIT_NEWS)
def editor_list():
    """The editor's items (their organisation's subtree), every state, newest change first."""
    _require_editor()
    page = _page()
    state = request.args.get("state") or None
    q = select(NewsItem).where(policy.news_edit_scope(current_user))
    if state in {s.value for s in NewsState}:
        q = q.where(NewsItem.state == state)
    rows = list(db.session.scalars(q.order_by(NewsItem.updated_at.desc(), NewsItem.id.desc())
                                   .offset((page - 1) * PER_PAGE).limit(PER_PAGE + 1)))
    return render_template("news/editor_list.html", items=rows[:PER_PAGE], more=len(rows) > PER_PAGE, page=page,
                           state=state, states=list(NewsState))


def _audience_choices():
    """Organisations an editor may aim at: above their own (their region's, the centre) and the regional and
    territorial ones of their subtree (a single school is reached through its territorial organisation)."""
    q = select(Organisation).where(Organisation.level.in_([OrgLevel.CENTRAL, OrgLevel.REGIONAL, OrgLevel.TERRITORIAL]),
                                   policy.org_scope(current_user)).order_by(Organisation.path).limit(2000)
    return [(str(o.id), ("— " * max(0, o.depth - 1)) + (o.short_name or o.name)) for o in db.session.scalars(q)]


def _form_data(form: NewsForm) -> dict:
    ids = [policy.parse_id(v) for v in form.audience_orgs.data or []]
    orgs = [db.session.get(Organisation, i) for i in ids if i]
    publish_at = form.publish_at.data.replace(tzinfo=MOSCOW).astimezone(UTC) if form.publish_at.data else None
    return {"title": form.title.data, "lead": form.lead.data, "body": form.body.data, "category": form.category.data,
            "audience_orgs": [o for o in orgs if o is not None], "audience_categories": form.audience_categories.data,
            "is_public": form.is_public.data, "publish_at": publish_at}


@bp.route("/news/edit/new", methods=["GET", "POST"])
@policy.requires(Permission.EDIT_NEWS)
def create():
    """A new draft."""
    _require_editor()
    return _edit(None)


@bp.route("/news/edit/<int:news_id>", methods=["GET", "POST"])
@policy.requires(Permission.EDIT_NEWS)
def edit(news_id: int):
    """Change an item (its text, audience, time, images); its state through the buttons."""
    _require_editor()
    return _edit(policy.get_news_for_edit(current_user, news_id))


def _edit(item: NewsItem | None):
    form = NewsForm(obj=item) if request.method == "GET" and item else NewsForm()
    form.audience_orgs.choices = _audience_choices()
    if request.method == "GET" and item:
        form.audience_orgs.data = [str(o.id) for o in item.audience_orgs]
        form.audience_categories.data = item.categories
        form.category.data = item.category.value
        if item.publish_at:
            form.publish_at.data = _aware(item.publish_at).astimezone(MOSCOW).replace(tzinfo=None)
    if form.validate_on_submit():
        try:
            item = ops.save_item(current_user, item, _form_data(form))
            upload = form.image.data
            if upload and getattr(upload, "filename", ""):
                ops.add_image(current_user, item, upload.read(ops_max_bytes() + 1), form.image_alt.data or "")
            db.session.commit()
        except ops.NewsError as err:
            db.session.rollback()
            getattr(form, err.field or "title").errors = [*getattr(form, err.field or "title").errors, err.message]
        except FileRejected as err:
            db.session.rollback()
            form.image.errors = [str(err)]
        else:
            search_index.sync()
            flash(gettext("Новость сохранена."), "success")
            return redirect(url_for("news.edit", news_id=item.id))
    actions = available(NEWS_ITEM, item, current_user) if item else []
    return render_template("news/edit.html", form=form, item=item, actions=actions,
                           history=history(NEWS_ITEM, item) if item else [])


def ops_max_bytes() -> int:
    from portal.news.content import MAX_IMAGE_BYTES

    return MAX_IMAGE_BYTES


@bp.route("/news/edit/<int:news_id>/preview")
@policy.requires(Permission.EDIT_NEWS)
def preview(news_id: int):
    """The item as readers will see it (any state)."""
    _require_editor()
    item = policy.get_news_for_edit(current_user, news_id)
    return render_template("news/item.html", item=item, preview=True, **_layout(None))


@bp.route("/news/edit/<int:news_id>/<action>", methods=["POST"])
@policy.requires(Permission.EDIT_NEWS)
def act(news_id: int, action: str):
    """Publish, archive or restore (the workflow decides who may, and when)."""
    _require_editor()
    item = policy.get_news_for_edit(current_user, news_id)
    if action not in NEWS_ITEM.transitions:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        ops.transition(current_user, item, action)
        db.session.commit()
    except WorkflowError as err:
        db.session.rollback()
        abort(err.status, err.message)
    search_index.sync()
    flash(gettext("Готово: %(action)s.", action=gettext(NEWS_ITEM.transitions[action].title).lower()), "success")
    return redirect(url_for("news.edit", news_id=item.id))


# ---- mailings ------------------------------------------------------------------------------------------------------


def _require_mailer() -> None:
    policy.require(current_user, Permission.SEND_MAILINGS)


def _mailing_form() -> MailingForm:
    form = MailingForm()
    orgs = db.session.scalars(select(Organisation).where(
        Organisation.level.in_([OrgLevel.CENTRAL, OrgLevel.REGIONAL, OrgLevel.TERRITORIAL]),
        policy.org_scope(current_user)).order_by(Organisation.path).limit(2000))
    form.segment_org.choices = [(str(o.id), ("— " * max(0, o.depth - 1)) + (o.short_name or o.name)) for o in orgs]
    if not form.segment_org.data:
        form.segment_org.data = str(current_user.org_id)
    return form


def _draft_mailing(form: MailingForm) -> tuple[Mailing, list[NewsItem]]:
    org = policy.get_org(current_user, form.segment_org.data)
    days = int(form.days.data) if form.days.data in ("7", "14", "31") else 14
    end = clock.now()
    start = end - timedelta(days=days)
    region = None if org.level == OrgLevel.CENTRAL else org
    while region is not None and region.level != OrgLevel.REGIONAL:
        region = region.parent
    items = mailings.digest_items(form.category.data, start, end, region)
    title = NewsCategory(form.category.data).label
    mailing = Mailing(plan="manual", category=form.category.data, subject=title,
                      body=mailings.digest_body(title, items), period_start=start, period_end=end,
                      segment_org_id=None if org.level == OrgLevel.CENTRAL else org.id,
                      segment_category=form.segment_category.data or "")
    return mailing, items


@bp.route("/news/mailings", methods=["GET", "POST"])
@policy.requires(Permission.SEND_MAILINGS)
def mailing_list():
    """Mailings: the plan, a new one (preview with the recipient count, then send), and the progress of each."""
    _require_mailer()
    form = _mailing_form()
    preview = items = count = None
    if request.method == "POST" and form.validate_on_submit():
        preview, items = _draft_mailing(form)
        count = mailings.count_recipients(preview)
        if request.form.get("send") == "1":
            if not items:
                form.category.errors = [gettext("За этот период в рубрике нет новостей для рассылки.")]
            else:
                mailing = mailings.create(f"manual:{current_user.id}", preview.category, preview.subject,
                                          preview.body, period_start=preview.period_start,
                                          period_end=preview.period_end,
                                          segment_org=db.session.get(Organisation, preview.segment_org_id)
                                          if preview.segment_org_id else None,
                                          segment_category=preview.segment_category, actor=current_user)
                db.session.commit()
                flash(gettext("Рассылка поставлена в очередь: %(n)s получателей.", n=mailing.total), "success")
                return redirect(url_for("news.mailing", mailing_id=mailing.id))
    visible = select(Mailing).order_by(Mailing.id.desc()).limit(50)
    if not policy.is_central(current_user):
        visible = visible.where(Mailing.segment_org_id.in_(policy.visible_org_ids(current_user)))
    return render_template("news/mailings.html", form=form, preview=preview, items=items, count=count,
                           rows=list(db.session.scalars(visible)), plan=mailings.PLAN.values())


@bp.route("/news/mailings/<int:mailing_id>")
@policy.requires(Permission.SEND_MAILINGS)
def mailing(mailing_id: int):
    """One mailing's letter and progress (how many letters are queued of how many)."""
    _require_mailer()
    m = db.session.get(Mailing, mailing_id)
    if m is None:
        abort(404)
    org = db.session.get(Organisation, m.segment_org_id) if m.segment_org_id else None
    if not policy.is_central(current_user) and not policy.org_in_scope(current_user, org):
        policy.abort_not_found("mailings", mailing_id, user=current_user)
    return render_template("news/mailing.html", m=m, org=org)


@public_bp.route("/news/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    """Unsubscribe from one category (or all) by the signed link of a letter; no login; honoured at once."""
    value = mailings.read_token(token)
    if value is None:
        abort(404)
    member_id, category = value
    form = ConfirmForm()
    done = False
    if form.validate_on_submit():
        if not mailings.unsubscribe(member_id, category):
            abort(404)
        db.session.commit()
        done = True
    return render_template("news/unsubscribe.html", form=form, done=done,
                           category=mailings.category_title(category))



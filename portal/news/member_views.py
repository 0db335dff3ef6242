"""The members' news in the cabinet: the items meant for them, newest first, paged, by rubric, and one item.

The routes sit on the cabinet's blueprint, so its guard (a member's session, else the cabinet's login) and the
app-wide separation of members and staff apply unchanged. Search is the shared `/news/search`, which answers a
member with the member's scope.
"""

from __future__ import annotations

from flask import abort, render_template

from portal.cabinet.views import bp
from portal.news import operations as ops
from portal.news.models import NewsCategory
from portal.news.readers import current_member, member_scope
from portal.news.views import _category_arg, _layout, _page, listing


@bp.route("/news/")
def news():
    """The news meant for the member (everyone, their organisations, their category), newest first."""
    member = current_member()
    if member is None:
        abort(404)
    page, category = _page(), _category_arg()
    items, more = listing(member_scope(member), page, category)
    return render_template("news/index.html", items=items, more=more, page=page, category=category,
                           categories=list(NewsCategory), endpoint="cabinet.news", **_layout(member))


@bp.route("/news/<int:news_id>")
def news_item(news_id: int):
    """One item, if it is meant for the member; another's answers like a missing one."""
    member = current_member()
    item = ops.get_readable(member_scope(member), news_id) if member is not None else None
    if item is None:
        abort(404)
    return render_template("news/item.html", item=item, preview=False, **_layout(member))

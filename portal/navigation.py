"""Where a page sits in the portal: the navigation bar's current section and the breadcrumbs above each page.

One table (`section_of`) says which section an endpoint belongs to; the bar marks that section's link
(`active`, `aria-current="page"`) and the breadcrumbs start with «Главная › <section>». A page adds its own
intermediate steps with `{% set crumbs = [(title, url), …] %}` at the top of its template (they then replace the
section's link); its `{% block title %}` is the last step. Pages that draw their own trail (an organisation's ancestors) are listed in OWN_TRAIL.
"""

from __future__ import annotations

from flask import request, url_for
from flask_login import current_user

from portal.i18n import N_, tr

# Endpoints whose templates draw a trail of their own (the ancestors of an organisation, the import's steps).
OWN_TRAIL = frozenset({"registry.org", "registry.tree", "imports.upload", "imports.mapping", "imports.job"})

_MEMBERS = frozenset({"registry.members", "registry.member", "registry.member_edit", "registry.member_event",
                      "registry.member_new", "registry.search", "cards.member_card_copy"})
_BELOW = frozenset({"auth.accounts", "auth.new_account", "registry.corrections"})
_ADMIN = frozenset({"cards.batches", "consent.exports"})


def section_of(endpoint: str | None, path: str = "") -> str | None:
    """The navigation section of an endpoint: home, org, members, aid, tree, below, admin (None: none)."""
    if path.startswith("/admin"):
        return "admin"
    if not endpoint:
        return None
    blueprint = endpoint.split(".", 1)[0]
    if endpoint == "registry.home":
        return "home"
    if endpoint == "registry.tree":
        return "tree"
    if endpoint in _BELOW or blueprint == "auth" and endpoint.startswith("auth.account"):
        return "below"
    if blueprint == "aid":
        return "aid"
    if endpoint in _ADMIN or blueprint in ("service", "workflow"):
        return "admin"
    if endpoint in _MEMBERS or blueprint in ("imports", "consent"):
        return "members"
    if blueprint in ("registry", "cards", "auth"):
        return "org"
    return None


def current_section() -> str | None:
    return section_of(request.endpoint, request.path)


def _section_link(section: str) -> tuple[str, str] | None:
    """The crumb of a section: its title in the page's language and the page it starts from."""
    org_id = current_user.org_id
    links = {
        "org": (N_("Моя организация"), lambda: url_for("registry.org", org_id=org_id)),
        "members": (N_("Члены Профсоюза"), lambda: url_for("registry.members", org_id=org_id)),
        "aid": (N_("Материальная помощь"), lambda: url_for("aid.index")),
        "tree": (N_("Структура"), lambda: url_for("registry.tree", org_id=org_id)),
        "below": (N_("Нижестоящие"), lambda: url_for("auth.accounts")),
        "admin": (N_("Администрирование"), lambda: "/admin/"),
    }
    if section not in links:
        return None
    title, url = links[section]
    return tr(title), url()


def breadcrumbs(extra=()) -> list[tuple[str, str]]:
    """The steps above this page (title, url), from «Главная» down; empty on the start page, for anonymous
    visitors and on pages that draw their own trail. `extra` are the page's own steps (its `crumbs`)."""
    if not current_user.is_authenticated or request.endpoint in OWN_TRAIL:
        return []
    section = current_section()
    if section == "home" or section is None and not extra:
        return []
    steps = [(tr(N_("Главная")), url_for("registry.home"))]
    # A page's own steps replace the section's link: they say more (whose member list, which organisation).
    link = _section_link(section) if section and not extra else None
    if link and link[1] != request.path:
        steps.append(link)
    for title, url in extra or ():
        if url != request.path and (title, url) not in steps:
            steps.append((title, url))
    return steps

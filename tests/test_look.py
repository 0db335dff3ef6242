"""The portal's look and its Content-Security-Policy without a browser (issues 9.17 and 10.6): headers on every
HTML page, no inline script/style/handler in any template, the bar's contrast computed from the CSS colours, state
badges by meaning, breadcrumbs, the current section, the favicon, the diagram's viewBox, the back office's dates
and audit names. The browser checks are in tests/browser/test_look.py."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from portal import audit
from portal.extensions import db
from tests.conftest import login

ROOT = Path(__file__).resolve().parent.parent
CSS = (ROOT / "portal/static/portal.css").read_text()


# ---- Content-Security-Policy ----------------------------------------------------------------------------------


def _pages(world) -> dict[str, list[str]]:
    """Main pages per role (and the back office for the roles that have one)."""
    a = world.members["a"]
    school = world.school_a.id
    return {
        "primary_chair": ["/", f"/orgs/{school}", f"/orgs/{school}/members", f"/members/{a.id}",
                          f"/members/{a.id}/consent", f"/orgs/{school}/card-requests", f"/orgs/{school}/import",
                          f"/orgs/{school}/passport", "/search?q=Алексеева", "/password", "/aid",
                          "/aid/petitions/new", "/no-such-page"],
        "regional_chair": ["/", f"/orgs/{world.region_a.id}/tree", "/accounts", "/corrections", "/aid/petitions",
                           "/aid/regulation", "/workflows/card_request", "/admin/", "/admin/members/",
                           f"/admin/members/edit/?id={a.id}", "/admin/audit/"],
        "central_admin": ["/card-batches", "/consent-exports", "/mail/outbox", "/jobs", "/admin/users/"],
    }


def test_every_html_page_carries_the_csp_and_permissions_policy(make_app, world):
    from portal import CONTENT_SECURITY_POLICY

    app = make_app()
    seen = 0
    for role, paths in _pages(world).items():
        client = app.test_client()
        for path in ["/login", *paths] if role == "primary_chair" else paths:
            if path != "/login" and not getattr(client, "_in", False):
                login(client, world.users[role])
                client._in = True
            r = client.get(path, follow_redirects=True)
            assert r.status_code in (200, 404), (role, path, r.status_code)
            if r.mimetype != "text/html":
                continue
            seen += 1
            csp = r.headers.get("Content-Security-Policy", "")
            assert csp == CONTENT_SECURITY_POLICY, (path, csp)
            directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
            assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
            assert "unsafe" not in csp and directives["object-src"] == "'none'"
            assert directives["frame-ancestors"] == "'none'" and directives["base-uri"] == "'self'"
            assert directives["form-action"] == "'self'" and directives["default-src"] == "'self'"
            pp = r.headers.get("Permissions-Policy", "")
            for feature in ("camera=()", "microphone=()", "geolocation=()"):
                assert feature in pp, (path, pp)
            html = r.get_data(as_text=True)
            assert not INLINE_SCRIPT.search(html), (path, INLINE_SCRIPT.search(html).group(0)[:200])
            assert not HANDLER.search(html), (path, HANDLER.search(html).group(0))
            assert not STYLE_ATTR.search(html), (path, STYLE_ATTR.search(html).group(0))
    assert seen >= 25


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)
STYLE_ATTR = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I)
JS_URL = re.compile(r"""href=["']javascript:""", re.I)


def _templates() -> list[Path]:
    found = [p for p in (ROOT / "portal").rglob("*.html") if "templates" in p.parts]
    assert len(found) > 40
    return found


@pytest.mark.parametrize("pattern", [INLINE_SCRIPT, HANDLER, STYLE_ATTR], ids=["inline-script", "on-handler", "style"])
def test_no_template_has_inline_script_handlers_or_styles(pattern):
    """What the CSP would refuse never reaches a template (portal/templates and every blueprint's templates)."""
    bad = [f"{p.relative_to(ROOT)}: {m.group(0)[:120]}" for p in _templates()
           for m in pattern.finditer(p.read_text())]
    assert not bad, bad


def test_overridden_admin_templates_have_no_javascript_links_with_handlers():
    for name in ("actions.html", "model/row_actions.html", "model/layout.html"):
        text = (ROOT / "portal/templates/admin" / name).read_text()
        assert "onclick" not in text
    assert "data-fa-action" in (ROOT / "portal/templates/admin/actions.html").read_text()


# ---- the navigation bar's contrast -------------------------------------------------------------------------------


def css_var(name: str) -> str:
    m = re.search(rf"{re.escape(name)}:\s*(#[0-9a-fA-F]{{6}})", CSS)
    assert m, name
    return m.group(1)


def luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_the_old_bar_failed_and_the_new_one_meets_wcag_aa():
    # Bootstrap's bg-primary (#0d6efd) under navbar-dark's links (white at 55 %, i.e. #8cbafe on it): 2.4:1.
    assert contrast("#0d6efd", "#8cbafe") < 2.6
    bg = css_var("--portal-nav-bg")
    for fg in ("--portal-nav-link", "--portal-nav-active"):
        assert contrast(css_var(fg), bg) >= 4.5, fg


@pytest.mark.parametrize("meaning", ["neutral", "waiting", "done", "refused"])
def test_state_badge_colours_are_readable(meaning):
    assert contrast(css_var(f"--state-{meaning}-fg"), css_var(f"--state-{meaning}-bg")) >= 4.5


# ---- state badges --------------------------------------------------------------------------------------------------


def test_every_state_of_every_workflow_has_a_meaning():
    from workflows import ALL, aid_petition, card, card_request, consent
    from workflows.engine import MEANINGS

    for definition in (consent.DEFINITION, card.DEFINITION, card_request.DEFINITION, aid_petition.DEFINITION):
        for name, state in definition["states"].items():
            assert state.get("meaning") in MEANINGS, f"{definition['name']}.{name}: give the state a meaning"
    assert {s.meaning for wf in ALL.values() for s in wf.states.values()} == set(MEANINGS)
    assert ALL["aid_petition"].states["rejected"].meaning == "refused"
    assert ALL["card_request"].states["submitted"].meaning == "waiting"
    assert ALL["consent"].states["signed"].meaning == "done"


def test_an_unknown_meaning_is_refused_when_the_workflow_is_built():
    from portal.registry.models import Member
    from workflows.engine import build

    with pytest.raises(ValueError, match="meaning"):
        build({"name": "x", "title": "x", "state_attr": "s", "version_attr": "v", "initial": "a",
               "states": {"a": {"title": "a", "meaning": "green"}}, "transitions": []}, Member)


def test_pages_colour_states_by_meaning(client, world):
    login(client, world.users["primary_chair"])
    html = client.get(f"/members/{world.members['a'].id}/consent").get_data(as_text=True)
    assert re.search(r'class="badge state-badge state-neutral[^"]*" data-meaning="neutral" data-testid="consent-state"',
                     html), html[:3000]


# ---- navigation: current section, breadcrumbs, favicon ---------------------------------------------------------------


def test_the_bar_marks_the_current_section(client, world):
    login(client, world.users["primary_chair"])
    html = client.get(f"/orgs/{world.school_a.id}/members").get_data(as_text=True)
    current = re.findall(r'<a class="nav-link active"[^>]*aria-current="page">([^<]+)</a>', html)
    assert current == ["Члены Профсоюза"]
    html = client.get("/").get_data(as_text=True)
    assert 'aria-current="page">' not in html.split("</nav>")[0] or "nav-link active" not in html


def test_breadcrumbs_below_the_start_page(client, world):
    login(client, world.users["primary_chair"])
    assert 'data-testid="breadcrumbs"' not in client.get("/").get_data(as_text=True)
    html = client.get(f"/members/{world.members['a'].id}").get_data(as_text=True)
    trail = re.search(r'data-testid="breadcrumbs"><ol[^>]*>(.*?)</ol>', html, re.S).group(1)
    steps = re.findall(r'<li class="breadcrumb-item[^"]*"[^>]*>(?:<a href="[^"]+">)?([^<]+)', trail)
    assert steps == ["Главная", world.school_a.name, "Члены Профсоюза", "Алексеева Анна Петровна"]
    for path in ("/search", "/password", f"/orgs/{world.school_a.id}/card-requests", "/aid"):
        r = client.get(path, follow_redirects=True)
        assert 'data-testid="breadcrumbs"' in r.get_data(as_text=True), path


def test_favicon_is_served_and_linked(client, world):
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.data[:4] == b"\x00\x00\x01\x00"
    assert client.get("/static/favicon.svg").status_code == 200
    html = client.get("/login").get_data(as_text=True)
    assert '<link rel="icon" href="/static/favicon.svg"' in html and 'href="/favicon.ico"' in html


# ---- the workflow diagram ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["consent", "card_request", "card", "aid_petition"])
def test_the_diagram_holds_every_label_and_edge(client, world, name):
    """Every text (by a generous width estimate) and every path point lies inside the viewBox."""
    from workflows.diagram import text_width

    login(client, world.users["regional_chair"])
    root = ET.fromstring(client.get(f"/workflows/{name}.svg").data)
    x0, y0, w, h = (float(v) for v in root.get("viewBox").split())
    ns = "{http://www.w3.org/2000/svg}"
    for text in root.iter(f"{ns}text"):
        size = float(text.get("font-size", 12))
        x, y = float(text.get("x")), float(text.get("y"))
        width = text_width(text.text, size)
        left = x - width / 2 if text.get("text-anchor") == "middle" else x
        assert x0 <= left and left + width <= x0 + w, (name, text.text)
        assert y0 <= y - size and y <= y0 + h, (name, text.text)
    for path in root.iter(f"{ns}path"):
        if path.get("marker-end"):
            numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", path.get("d"))]
            for px, py in zip(numbers[::2], numbers[1::2], strict=True):
                assert x0 <= px <= x0 + w and y0 <= py <= y0 + h, (name, path.get("d"))
    for rect in root.iter(f"{ns}rect"):
        assert float(rect.get("x")) + float(rect.get("width")) <= x0 + w


# ---- the back office ------------------------------------------------------------------------------------------------------


def test_admin_in_the_portal_look_with_russian_dates_and_names_in_the_audit(client, world):
    admin = world.users["regional_chair"]
    members = [world.members["a"], world.members["a2"]]
    audit.record("members_list", object_type="members", org_id=world.region_a.id,
                 ids=[m.id for m in members] + [world.members["b"].id], count=3)
    db.session.commit()
    login(client, admin)
    html = client.get("/admin/audit/").get_data(as_text=True)
    assert 'data-testid="navbar"' in html and "/static/portal.css" in html and 'data-testid="lang-switch"' in html
    assert 'data-testid="breadcrumbs"' in html
    assert re.search(r"\d\d\.\d\d\.20\d\d \d\d:\d\d", html)  # «04.12.2026 18:05», not 2026-12-04 15:05:00.123
    assert not re.search(r"20\d\d-\d\d-\d\d \d\d:\d\d", html)
    assert "Алексеева Анна Петровна" in html and "Борисова Анна Петровна" in html
    # A member of another region stays a number: the log names only what the viewer may see.
    assert "Дмитриева" not in html and f"№ {world.members['b'].id}" in html
    assert "[" + str(members[0].id) not in html  # no raw id list
    raw = client.get("/admin/audit/export/csv/").get_data(as_text=True)
    assert json.dumps([m.id for m in members] + [world.members["b"].id]).replace(" ", "") in raw.replace(" ", "") \
        or str(members[0].id) in raw

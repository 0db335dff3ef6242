"""Browser fixtures: the real app on a real HTTP server, and headless Chromium driven by Playwright.

`live_server` serves `create_app` on this test's own database (the SQLite copy or the per-run PostgreSQL database of
tests/conftest.py, truncated after the test) from a background thread of werkzeug's threaded server on 127.0.0.1 and
a free port. CSRF protection is on, so every form goes through with its real token; session cookies go without the
Secure flag because the server speaks plain http. The test itself holds an app context on the same database, so it
creates data with the factories of tests/conftest.py and checks the database afterwards.

`browser` is one Chromium per test process (per xdist worker); `context`/`page` are new for every test, so no cookie
leaks from one test into another. Debian's Chromium at /usr/bin/chromium is used as is: nothing is downloaded, and
the tests are skipped (with the reason) when it is not installed.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from flask import Flask, got_request_exception
from werkzeug.serving import WSGIRequestHandler, make_server

from portal.extensions import db
from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # the network is closed: no update checks, no safe-browsing fetches
    "--disable-component-update",
    "--disable-sync",
]
# A slow, shared two-core machine: generous limits for Playwright's auto-waiting (never a fixed sleep).
ACTION_TIMEOUT_MS = 30_000
EXPECT_TIMEOUT_MS = 20_000


class _QuietHandler(WSGIRequestHandler):
    """No access log lines in the test output; errors still go to the `server_errors` list below."""

    def log_request(self, *args, **kwargs):
        pass


@dataclass
class LiveServer:
    app: Flask
    url: str
    errors: list[BaseException] = field(default_factory=list)

    def __call__(self, path: str = "/") -> str:
        return self.url + path


def serve_in_thread(wsgi_app, host: str = "127.0.0.1"):
    """Start werkzeug's threaded server on a free port in a daemon thread; returns (server, thread, base_url)."""
    server = make_server(host, 0, wsgi_app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    return server, thread, f"http://{host}:{server.server_port}"


@pytest.fixture
def live_server(make_app) -> Iterator[LiveServer]:
    """The portal on this test's database, served over HTTP; the test body runs inside its app context.

    Fails the test at teardown if a request raised an unhandled exception (a 500 the browser may not show).
    """
    app = make_app(WTF_CSRF_ENABLED=True, SESSION_COOKIE_SECURE=False, TESTING=False,
                   # the login throttle keys on the address: every test logs in from 127.0.0.1
                   LOGIN_FREE_ATTEMPTS=1000)
    errors: list[BaseException] = []

    def record(sender, exception, **extra):
        errors.append(exception)

    got_request_exception.connect(record, app)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server, thread, url = serve_in_thread(app)
    try:
        with app.app_context():
            yield LiveServer(app=app, url=url, errors=errors)
            db.session.remove()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        got_request_exception.disconnect(record, app)
    assert not errors, f"the server raised during the test: {errors!r}"


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium per test process, driven by Playwright; skipped if Chromium is missing."""
    if not os.path.exists(CHROMIUM):
        print(f"\nbrowser tests skipped: Chromium not installed at {CHROMIUM}")
        pytest.skip(f"Chromium not installed at {CHROMIUM}")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def context(browser, live_server):
    """A fresh browser profile (cookies, storage) for one test, pointed at the live server."""
    ctx = browser.new_context(base_url=live_server.url, locale="ru-RU", viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    ctx.set_default_navigation_timeout(ACTION_TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    """A page in the test's context; any JavaScript `dialog` (alert, confirm, prompt) is recorded and dismissed."""
    p = context.new_page()
    p.dialogs = []

    def on_dialog(dialog):
        p.dialogs.append((dialog.type, dialog.message))
        dialog.dismiss()

    p.on("dialog", on_dialog)
    yield p
    p.close()


def browser_login(page, login: str, password: str = PASSWORD) -> None:
    """Log in through the real login form and wait until the portal has let us in."""
    from playwright.sync_api import expect

    page.goto("/login")
    page.get_by_label("Логин").fill(login)
    page.get_by_label("Пароль").fill(password)
    page.get_by_role("button", name="Войти").click()
    # Attached rather than visible: on a phone the logout button sits in the collapsed menu.
    expect(page.get_by_role("button", name="Выйти", include_hidden=True)).to_be_attached()
    expect(page).not_to_have_url(re.compile(r"/login(\?|$)"))


def fresh_session() -> None:
    """Drop the test's own database session, so the next query sees what the server has committed (and the test
    holds no SQLite read lock while the server writes)."""
    db.session.remove()


@dataclass
class ChairWorld:
    """A region → town → school chain, with the school's chair and a chair of another school for scope checks."""

    region: object
    territory: object
    school: object
    other_school: object
    chair: object
    territorial_chair: object


@pytest.fixture
def chair_world(live_server) -> ChairWorld:
    """Organisations and accounts made with the factories of tests/conftest.py (password: tests.conftest.PASSWORD).

    The school's passport is as the central office loads it: a name and a staff count, nothing else.
    """
    from portal.auth.models import Role
    from portal.registry.models import OrgLevel
    from tests.conftest import create_org, create_user

    central = create_org(None, OrgLevel.CENTRAL, "ЦС Профсоюза")
    region = create_org(central, OrgLevel.REGIONAL, "Липецкая областная организация")
    territory = create_org(region, OrgLevel.TERRITORIAL, "Городская организация г. Липецка")
    school = create_org(territory, OrgLevel.PRIMARY, "ППО МБОУ СОШ № 17 г. Липецка")
    other = create_org(territory, OrgLevel.PRIMARY, "ППО МБОУ СОШ № 5 г. Липецка")
    chair = create_user(school, Role.PRIMARY_CHAIR, "school17")
    terr_chair = create_user(territory, Role.TERRITORIAL_CHAIR, "lipetsk")
    w = ChairWorld(region, territory, school, other, chair, terr_chair)
    for obj in (region, territory, school, other, chair, terr_chair):
        db.session.refresh(obj)
        db.session.expunge(obj)  # plain values from here on; the test queries anew for the server's changes
    fresh_session()
    return w


class ForeignSite:
    """Pages served from another origin (another port): what an attacker's site would be to the browser."""

    def __init__(self):
        self.pages: dict[str, str] = {}
        self.requests: list[str] = []
        self.server, self.thread, self.url = serve_in_thread(self._wsgi)

    @property
    def origin(self) -> str:
        return self.url

    def serve(self, path: str, html: str) -> str:
        self.pages[path] = html
        return self.url + path

    def _wsgi(self, environ, start_response):
        path = environ.get("PATH_INFO", "/")
        self.requests.append(f"{environ['REQUEST_METHOD']} {path}")
        body = self.pages.get(path)
        if body is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")])
        return [body.encode()]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def foreign_site() -> Iterator[ForeignSite]:
    site = ForeignSite()
    yield site
    site.close()

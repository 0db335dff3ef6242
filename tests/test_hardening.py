"""Hardening found by the probe of issue 10: NUL bytes refused before any view, the back office's CSV download
whole through a real server, and a foreign id answering in the time of a missing one."""

from __future__ import annotations

import csv
import http.cookiejar
import io
import statistics
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from portal.extensions import db
from portal.registry.models import Organisation
from tests.conftest import PASSWORD, create_org, login
from tests.security_helpers import fresh_login_per_request  # noqa: F401  (autouse)

NUL_MESSAGE = "недопустимый символ"


def _text(r) -> str:
    return r.get_data(as_text=True)


@pytest.mark.parametrize("path", [
    "/search?q=%00",
    "/search?q=abc%00def",
    "/orgs/{org}/members?q=%00",
    "/orgs/{org}/members?category=%00",
    "/orgs/{org}/export.xlsx?q=%00",
    "/admin/members/?search=%00",
    "/admin/organisations/?search=a%00",
    "/admin/organisations/export/csv/?search=%00",
    "/admin/audit/?flt0_0=%00",
    "/orgs/%00",
    "/search?%00=1",
])
def test_a_nul_byte_in_a_query_or_path_is_bad_input_in_russian(app, client, world, path):
    login(client, world.users["central_admin"])
    r = client.get(path.format(org=world.school_a.id))
    assert r.status_code == 400, (path, r.status_code)
    assert NUL_MESSAGE in _text(r)


def test_a_nul_byte_in_a_login_form_is_refused_before_the_login(client, world):
    for data in ({"login": "chair\x00", "password": "x"}, {"login": world.users["primary_chair"].login,
                                                             "password": PASSWORD + "\x00"}):
        r = client.post("/login", data=data)
        assert r.status_code == 400 and NUL_MESSAGE in _text(r)
    # Nothing was counted as a failed attempt: the refusal came before the view.
    from portal.auth.models import LoginThrottle

    assert db.session.query(LoginThrottle).count() == 0


def test_a_nul_byte_in_a_posted_form_is_refused(client, world):
    login(client, world.users["primary_chair"])
    m = world.members["a"]
    r = client.post(f"/members/{m.id}/edit", data={"last_name": "Иванов\x00"})
    assert r.status_code == 400 and NUL_MESSAGE in _text(r)


# ---- a real server: the streamed CSV of the back office ---------------------------------------------------------


class Browser:
    """A cookie-keeping HTTP client of a real server (the Flask test client keeps an app context that hides bugs
    of streamed responses)."""

    def __init__(self, base: str, address_header: str | None = None):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                                  _NoRedirect())

    def request(self, path: str, data: dict | None = None) -> tuple[int, bytes]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, data=body, timeout=60) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture
def server(make_app):
    from tests.browser.conftest import serve_in_thread

    live = make_app(TESTING=False, SESSION_COOKIE_SECURE=False, PROPAGATE_EXCEPTIONS=False)
    srv, thread, url = serve_in_thread(live)
    try:
        yield url
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)


def test_the_back_office_csv_export_downloads_whole_through_a_real_server(app, world, server):
    # Enough rows that the file is many chunks long.
    for i in range(60):
        create_org(world.terr_a, world.school_a.level, f"ППО МБОУ СОШ № {100 + i} г. Липецка")
    db.session.commit()
    expected = db.session.query(Organisation).count()
    b = Browser(server)
    assert b.request("/login", {"login": world.users["central_admin"].login, "password": PASSWORD})[0] == 302
    status, body = b.request("/admin/organisations/export/csv/")
    assert status == 200
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    assert len(body) > 334
    names = {r[1] for r in rows[1:]}
    assert len(rows) == expected + 1 and "ППО МБОУ СОШ № 159 г. Липецка" in names and "ЦС Профсоюза" in names


# ---- timing: a foreign id and a missing one -----------------------------------------------------------------------


def _median_ms(client, path: str, n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 404
    return statistics.median(times)


def test_a_foreign_id_answers_in_the_time_of_a_missing_one(app, client, world):
    """Both are audited the same way (a denial naming the id asked for), so neither is a cheaper answer."""
    login(client, world.users["primary_chair"])
    foreign = world.members["b"].id
    missing = 9_999_999
    for path in (f"/members/{foreign}", f"/members/{missing}"):  # warm both paths up
        _median_ms(client, path, 3)
    # Interleaved rounds: a slow moment of the shared machine hits both alike.
    foreign_ms, missing_ms = [], []
    for _ in range(5):
        foreign_ms.append(_median_ms(client, f"/members/{foreign}", 5))
        missing_ms.append(_median_ms(client, f"/members/{missing}", 5))
    f, m = statistics.median(foreign_ms), statistics.median(missing_ms)
    # Before the fix a foreign id took three to four times as long as a missing one.
    assert abs(f - m) <= max(2.0, 0.4 * max(f, m)), (f, m)

"""Login throttling under parallel guessing, through a real threaded HTTP server on PostgreSQL (issue 10, item 5):
forty wrong passwords at once get exactly the free attempts checked, and the owner still logs in from elsewhere."""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import select

from portal.audit import AuditEntry
from portal.auth.models import LoginThrottle
from portal.extensions import db
from tests.conftest import PASSWORD

pytestmark = pytest.mark.postgres


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _post_login(url: str, login: str, password: str, address: str) -> int:
    """One login POST as its own browser; the address is given by the proxy header the test app trusts."""
    opener = urllib.request.build_opener(_NoRedirect())
    body = urllib.parse.urlencode({"login": login, "password": password}).encode()
    request = urllib.request.Request(url + "/login", data=body, headers={"X-Test-Address": address})
    try:
        with opener.open(request, timeout=120) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


class _AddressFromHeader:
    """WSGI middleware for the test only: each simulated client gets its own REMOTE_ADDR."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        environ["REMOTE_ADDR"] = environ.get("HTTP_X_TEST_ADDRESS", environ.get("REMOTE_ADDR"))
        return self.app(environ, start_response)


@pytest.fixture
def live(make_app, database):
    if database["kind"] != "postgresql":
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL) for concurrent transactions")
    from tests.browser.conftest import serve_in_thread

    app = make_app(TESTING=False, SESSION_COOKIE_SECURE=False)
    server, thread, url = serve_in_thread(_AddressFromHeader(app.wsgi_app))
    try:
        yield app, url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_forty_parallel_wrong_passwords_get_only_the_free_attempts(app, world, live):
    live_app, url = live
    user = world.users["primary_chair"]
    name = user.login  # the threads never touch this session's objects
    free = live_app.config["LOGIN_FREE_ATTEMPTS"]
    n = 40
    barrier = threading.Barrier(n)
    statuses: list[int] = []

    def guess(i: int) -> None:
        barrier.wait()
        statuses.append(_post_login(url, name, f"wrong-{i}", "10.66.0.1"))

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(statuses) == n and set(statuses) <= {200, 429}, statuses
    # 200 is "wrong login or password" (the password was checked), 429 "wait": exactly the free attempts checked.
    assert statuses.count(200) == free, statuses
    db.session.expire_all()
    checked = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "login",
                                                          AuditEntry.outcome == "denied")).all()
    assert len(checked) == free
    assert db.session.get(LoginThrottle, f"login:{name}").failures == free
    db.session.rollback()
    # The owner, from their own address, is not locked out by the guessing.
    assert _post_login(url, name, PASSWORD, "10.66.0.2") == 302
    # The guessing address still waits, even with the right password.
    assert _post_login(url, name, PASSWORD, "10.66.0.1") == 429

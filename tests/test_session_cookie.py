"""The session cookie is written only when the session changes (issue 9.19): a parallel response carrying an older
session can no longer put back the language the user has just switched away from."""

from __future__ import annotations

from portal.config import build_config
from tests.conftest import login
from tests.test_auth import Clock


def set_cookies(response) -> list[str]:
    return [c for c in response.headers.getlist("Set-Cookie") if c.startswith("portal_session=")]


def test_static_files_and_404s_set_no_cookie(client, world):
    # Anonymous and logged in alike: neither a stylesheet nor a missing page writes the session.
    for _ in range(2):
        for path in ("/static/portal.css", "/no-such-page", "/admin/static/admin/js/helpers.js"):
            r = client.get(path)
            assert not set_cookies(r), (path, r.status_code, set_cookies(r))
        login(client, world.users["primary_chair"])
        client.get("/search")  # the first page after login stores the CSRF token: a real change, written once


def test_pages_do_not_rewrite_an_unchanged_session(client, world):
    login(client, world.users["primary_chair"])
    assert client.get("/search").status_code == 200  # may write the CSRF token once
    for path in ("/search", f"/orgs/{world.users['primary_chair'].org_id}", "/no-such-page"):
        r = client.get(path)
        assert not set_cookies(r), path


def test_the_idle_clock_moves_at_most_once_a_minute(client, world, monkeypatch):
    from datetime import UTC, datetime

    from portal.auth import views as auth_views

    clock = Clock(datetime.now(UTC))
    monkeypatch.setattr(auth_views, "now", clock)
    login(client, world.users["primary_chair"])
    client.get("/search")
    clock.advance(seconds=30)
    assert not set_cookies(client.get("/search"))
    clock.advance(seconds=31)
    assert set_cookies(client.get("/search"))  # 61 s since the last write: the idle clock and the expiry move
    assert not set_cookies(client.get("/search"))


def test_a_parallel_response_cannot_undo_the_language_switch(client, world):
    """Request A starts with the Russian session, the switch to English answers, then A answers: the browser keeps
    what the switch set, because A sends no cookie (before, A's Set-Cookie put Russian back)."""
    login(client, world.users["primary_chair"])
    client.get("/search")
    old_cookie = client.get_cookie("portal_session").value
    r = client.get("/lang/en?next=/search")
    assert set_cookies(r)
    new_cookie = client.get_cookie("portal_session").value
    # A request of the page loaded before the switch (its stylesheet, a page in another tab) still carries the old one.
    client.set_cookie("portal_session", old_cookie)
    for path in ("/static/portal.css", "/search", "/no-such-page"):
        stale = client.get(path)
        assert not set_cookies(stale), path
    client.set_cookie("portal_session", new_cookie)
    assert 'lang="en"' in client.get("/search").get_data(as_text=True)


def test_the_configuration_never_refreshes_the_cookie_on_every_request(tmp_path):
    assert build_config(tmp_path)["SESSION_REFRESH_EACH_REQUEST"] is False

"""Helpers shared by the access, admin, auth and audit tests."""

from __future__ import annotations

import re

import pytest

from portal.extensions import db

NONEXISTENT_IDS = ("999999", str(2**31), "99999999999999999999")

_TOKEN = re.compile(r'(name="csrf_token"[^>]*?value=")[^"]*|(value=")[^"]*("[^>]*?name="csrf_token")')


def normalised(response) -> bytes:
    """The body with the per-request CSRF token blanked (it carries a timestamp), everything else byte for byte."""
    text = response.get_data(as_text=True)
    text = _TOKEN.sub(lambda m: (m.group(1) or m.group(2)) + "TOKEN" + (m.group(3) or ""), text)
    return text.encode()


def csrf_token(page_html: str) -> str:
    """The CSRF token of the first form on a page."""
    m = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', page_html) or re.search(
        r'value="([^"]+)"[^>]*?name="csrf_token"', page_html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def login_with_csrf(client, login: str, password: str):
    """Log in through the real form, token included (for apps with WTF_CSRF_ENABLED)."""
    token = csrf_token(client.get("/login").get_data(as_text=True))
    r = client.post("/login", data={"login": login, "password": password, "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    return r


def fresh(obj):
    """Reload an object from the database (requests run in their own sessions)."""
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


@pytest.fixture(autouse=True)
def fresh_login_per_request(app):
    """Each test request loads its user anew, as in production.

    The `app` fixture keeps an app context pushed, and the test client's requests reuse it, so Flask-Login's
    cached `g._login_user` would leak from one client's request into another client's (a second browser would
    act as the first user). Dropping it when each request starts restores one-request-one-user.
    """
    from flask import g, request_started

    def forget(sender, **extra):
        g.pop("_login_user", None)

    request_started.connect(forget, app)
    yield
    request_started.disconnect(forget, app)

"""The session cookie is written only when the session changed, and never by a static file.

Flask's default (a permanent session with SESSION_REFRESH_EACH_REQUEST) re-sends the whole signed cookie with every
response, 404s and stylesheets included. Each response carries the session as it was when *that* request started,
so a stylesheet requested just before the language switch answered after it and put the old language back (issue
9.19). Here:

- every session cookie is permanent (expires after PERMANENT_SESSION_LIFETIME) without anyone setting
  `session.permanent` on each request — that assignment alone marked the session modified;
- a response sets the cookie only when the request changed the session (login, logout, the language, the CSRF
  token, the idle clock — see `touch_seen`);
- a static file never sets it, whatever happened.

The idle clock ("seen", checked in portal.auth.views) moves at most once a minute (SESSION_SEEN_GRANULARITY), so
pages, scripts and images in between leave the cookie alone; an idle session still ends 30 minutes (less at most
one minute) after the last request, and the cookie's own expiry moves with each write.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import request
from flask.sessions import SecureCookieSessionInterface


def is_static_request() -> bool:
    """A request for a static file (the portal's, Bootstrap-Flask's, Flask-Admin's)."""
    endpoint = request.endpoint or ""
    return endpoint == "static" or endpoint.endswith(".static")


class PortalSessionInterface(SecureCookieSessionInterface):
    """Signed-cookie sessions that are written only when changed (see the module docstring)."""

    def get_expiration_time(self, app, session):
        # Every portal session is permanent: the idle limit lives in the cookie's expiry as well as on the server.
        return datetime.now(UTC) + app.permanent_session_lifetime

    def should_set_cookie(self, app, session) -> bool:
        return session.modified

    def save_session(self, app, session, response) -> None:
        if is_static_request():
            return None
        return super().save_session(app, session, response)


def touch_seen(session, moment: float, granularity: float) -> None:
    """Move the idle clock to `moment` when it is more than `granularity` seconds behind (else leave the session
    unmodified, so the response sets no cookie)."""
    seen = session.get("seen")
    if not isinstance(seen, int | float) or moment - seen >= granularity:
        session["seen"] = moment

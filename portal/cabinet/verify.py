"""The public card verification page (/verify/<token>) a partner reaches through the card's QR code.

It shows «действителен / недействителен» and the first name with the surname's initial — nothing else. The token
is the account's random `verify_token`, never the card number, so numbers cannot be walked; unknown tokens count
against the asking address (login_throttle), and a flood of them is slowed down like failed logins.

One SQL statement answers a request: the address's block (if any) and the few columns the verdict needs, read
together (a one-row select with the throttle row as a scalar subquery and the account and member outer-joined),
on a pooled connection of its own; only a miss opens the session, to count it.
A blocked address is refused before anything about the token is used, exactly as when they were two statements.
The page is `no-store`: it names a person, and a card blocked a moment ago must read «недействителен» at once.
"""

from __future__ import annotations

from datetime import UTC

from flask import Blueprint, g, render_template, request
from sqlalchemy import false, literal, select

from portal.auth.models import LoginThrottle
from portal.cabinet import operations as ops
from portal.cabinet.models import MemberAccount
from portal.clock import now
from portal.extensions import db
from portal.registry.models import Member

bp = Blueprint("verify", __name__)


def _lookup(key: str, token: str):
    """(blocked_until of the address, closed_at, member status, card status, first name, surname) — one row; the
    account's columns are NULL for an unknown token."""
    blocked = select(LoginThrottle.blocked_until).where(LoginThrottle.key == key).scalar_subquery()
    one = select(literal(1).label("one")).subquery()
    known = 0 < len(token) <= 64
    stmt = (select(blocked, MemberAccount.id, MemberAccount.closed_at, Member.status, Member.card_status,
                   Member.first_name, Member.last_name)
            .select_from(one)
            .outerjoin(MemberAccount, (MemberAccount.verify_token == token) if known else false())
            .outerjoin(Member, Member.id == MemberAccount.member_id)
            .limit(1))
    # A plain connection rather than the ORM session: nothing here is an object to track, and a request that
    # finds its token never opens the session at all (its checkout, BEGIN and ROLLBACK are skipped).
    with db.engine.connect() as conn:
        return conn.execute(stmt).one()


@bp.route("/verify/<token>")
def card(token: str):
    """Valid / not valid, and «Мария И.»; the same page for an unknown token and an invalid card."""
    g.no_store = True
    keys = [f"verify-addr:{request.remote_addr or '-'}"]
    blocked_until, account_id, closed_at, status, card_status, first_name, last_name = _lookup(keys[0], token)
    if blocked_until is not None:
        moment = now()
        until = blocked_until if blocked_until.tzinfo else blocked_until.replace(tzinfo=UTC)
        if until > moment:
            wait = int((until - moment).total_seconds()) + 1
            return render_template("cabinet/verify.html", valid=False, name="", throttled=wait), 429
    if account_id is None:
        ops.record_failure(keys)  # only misses count: a partner checking real cards is never slowed down
        db.session.commit()
        return render_template("cabinet/verify.html", valid=False, name="", throttled=0)
    valid = ops.card_valid(closed_at, status, card_status)
    name = f"{first_name} {last_name[:1]}." if valid else ""
    return render_template("cabinet/verify.html", valid=valid, name=name, throttled=0)

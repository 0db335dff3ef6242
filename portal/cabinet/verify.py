"""The public card verification page (/verify/<token>) a partner reaches through the card's QR code.

It shows «действителен / недействителен» and the first name with the surname's initial — nothing else. The token
is the account's random `verify_token`, never the card number, so numbers cannot be walked; unknown tokens count
against the asking address (login_throttle), and a flood of them is slowed down like failed logins.
"""

from __future__ import annotations

from flask import Blueprint, g, render_template, request
from sqlalchemy import select

from portal.cabinet import operations as ops
from portal.cabinet.models import MemberAccount
from portal.extensions import db

bp = Blueprint("verify", __name__)


@bp.route("/verify/<token>")
def card(token: str):
    """Valid / not valid, and «Мария И.»; the same page for an unknown token and an invalid card."""
    g.no_store = True
    keys = [f"verify-addr:{request.remote_addr or '-'}"]
    wait = ops.blocked_for(keys)
    if wait:
        return render_template("cabinet/verify.html", valid=False, name="", throttled=wait), 429
    account = db.session.scalar(select(MemberAccount).where(MemberAccount.verify_token == token)) if (
        0 < len(token) <= 64) else None
    if account is None:
        ops.record_failure(keys)  # only misses count: a partner checking real cards is never slowed down
        db.session.commit()
        return render_template("cabinet/verify.html", valid=False, name="", throttled=0)
    valid = ops.card_is_valid(account)
    m = account.member
    name = f"{m.first_name} {m.last_name[:1]}." if valid else ""
    return render_template("cabinet/verify.html", valid=valid, name=name, throttled=0)

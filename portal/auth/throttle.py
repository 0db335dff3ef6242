"""Throttling of password attempts and of other guessable forms, shared by staff logins and the member cabinet.

Three counters per attempt: the account ("login:…"), the account from this address ("pair:…") and the address
("addr:…"). An attempt is reserved BEFORE the password is checked, in one short transaction that locks the rows
(an upsert takes the row lock on PostgreSQL and the write lock on SQLite): it is refused while blocked, otherwise
counted as a failure at once. Forty parallel guesses therefore get exactly the free attempts, not as many as
raced past a separate check. A right password then undoes what it was counted for.

A per-account block stops the addresses that failed on the account, not its owner elsewhere: an address with no
failure on the account within the window still gets its attempt (one, then its own counter blocks it), so an
outsider who keeps an account blocked does not keep its owner out. The address counter is separate (one address
guessing many accounts); a good login removes that account's failures from it (a school behind one NAT does not
share a typo's lockout), never the failures on other accounts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app, request
from sqlalchemy import Integer, bindparam, case, delete, literal, select, text, update

from portal.auth.models import LoginThrottle
from portal.clock import now
from portal.extensions import db
from portal.text import fold


def login_keys(prefix: str, ident: str) -> list[str]:
    """The three counters of a password attempt: the account, the account from this address, the address.

    `prefix` keeps kinds of account apart ("" for staff logins, "member-" for card numbers in the cabinet).
    """
    account = fold(ident)[:150]
    address = (request.remote_addr or "-")[:45]
    return [f"{prefix}login:{account}", f"{prefix}pair:{account}|{address}", f"{prefix}addr:{address}"]


def _upsert():
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


# The three counters of an attempt in one upsert, in one lock order for everyone (the keys sorted): no deadlock
# between two attempts. Old failures are forgotten (a school's typos spread over weeks); the row is locked either
# way. Written as text (the same SQL on PostgreSQL and SQLite): SQLAlchemy compiles a multi-row INSERT afresh on
# every call (it has no cache key), which cost more than the statement itself.
_RESERVE = text(
    'INSERT INTO login_throttle ("key", failures, updated_at) VALUES (:k0, 0, :moment), (:k1, 0, :moment), '
    '(:k2, 0, :moment) ON CONFLICT ("key") DO UPDATE SET '
    "failures = CASE WHEN login_throttle.updated_at < :cutoff THEN 0 ELSE login_throttle.failures END, "
    "blocked_until = CASE WHEN login_throttle.updated_at < :cutoff THEN NULL ELSE login_throttle.blocked_until END "
    'RETURNING "key", failures, blocked_until'
).bindparams(bindparam("moment", type_=LoginThrottle.__table__.c.updated_at.type),
             bindparam("cutoff", type_=LoginThrottle.__table__.c.updated_at.type)
             ).columns(LoginThrottle.__table__.c.key, LoginThrottle.__table__.c.failures,
                       LoginThrottle.__table__.c.blocked_until)


def reserve_attempt(keys: list[str]) -> int:
    """Atomically decide and record one attempt for the keys (account, account×address, address).

    Returns the seconds to wait (the attempt is refused and nothing is counted), or 0: the attempt is counted as a
    failure on the account and the account×address keys and may check its password (`attempt_succeeded` undoes it).
    The address key is only checked here and counted by `attempt_failed`: counting in-flight attempts on it would
    block a school whose staff log in at the same moment behind one address, although every password was right.
    Commits, so the row locks are held only for this step, never during the password hash.
    """
    cfg = current_app.config
    free = cfg["LOGIN_FREE_ATTEMPTS"]
    free_by_key = {keys[0]: free, keys[1]: free, keys[2]: cfg.get("LOGIN_ADDRESS_FREE_ATTEMPTS", free)}
    cap = cfg["LOGIN_MAX_DELAY_SECONDS"]
    window = timedelta(seconds=cfg.get("LOGIN_FAILURE_WINDOW_SECONDS", 3600))
    moment = now()
    table = LoginThrottle.__table__
    ordered = sorted(keys)
    state = {key: (failures, _aware(until)) for key, failures, until in db.session.execute(_RESERVE, {
        "k0": ordered[0], "k1": ordered[1], "k2": ordered[2], "moment": moment, "cutoff": moment - window})}
    account, pair, address = keys

    def wait_of(key: str) -> int:
        until = state[key][1]
        return int((until - moment).total_seconds()) + 1 if until and until > moment else 0

    wait = max(wait_of(pair), wait_of(address))
    if not wait and wait_of(account) and state[pair][0] > 0:
        wait = wait_of(account)  # this address is one of those failing on the blocked account
    if wait:
        db.session.commit()
        return wait
    # The account's and the pair's counters move on in one UPDATE (the rows are still locked by the upsert).
    failures, blocked = {}, {}
    for key in keys[:2]:
        failures[key] = state[key][0] + 1
        blocked[key] = state[key][1]
        if failures[key] >= free_by_key[key]:
            delay = min(2 ** min(failures[key] - free_by_key[key] + 1, 30), cap)
            blocked[key] = max(moment + timedelta(seconds=delay), state[key][1] or moment)
    until_type = table.c.blocked_until.type
    db.session.execute(update(table).where(table.c.key.in_(keys[:2])).values(
        failures=case({k: literal(v, Integer) for k, v in failures.items()}, value=table.c.key),
        blocked_until=case({k: literal(v, until_type) for k, v in blocked.items()}, value=table.c.key),
        updated_at=moment))
    db.session.commit()
    return 0


def attempt_failed(keys: list[str]) -> None:
    """A wrong password after `reserve_attempt`: the address's counter takes the failure (the account's already did)."""
    cfg = current_app.config
    _count(keys[2], cfg.get("LOGIN_ADDRESS_FREE_ATTEMPTS", cfg["LOGIN_FREE_ATTEMPTS"]))


def attempt_succeeded(keys: list[str]) -> None:
    """A right password: the account's and this address's counters for it are cleared, and the address counter
    loses the failures of this account from this address (the attempt just reserved was never counted there)."""
    account, pair, address = keys
    gone = dict(db.session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_([account, pair]))
                                   .returning(LoginThrottle.key, LoginThrottle.failures)).all())
    mine = max((gone.get(pair) or 0) - 1, 0)
    if mine:
        free = current_app.config.get("LOGIN_ADDRESS_FREE_ATTEMPTS", current_app.config["LOGIN_FREE_ATTEMPTS"])
        left = case((LoginThrottle.failures > mine, LoginThrottle.failures - mine), else_=0)
        db.session.execute(update(LoginThrottle).where(LoginThrottle.key == address).values(
            failures=left, blocked_until=case((left < free, None), else_=LoginThrottle.blocked_until)))


def blocked_for(keys: list[str]) -> int:
    """Seconds until any of the keys may try again (0 = free): for forms whose misses are counted after the fact
    (card verification, registration, reset requests) with `count_failure`."""
    rows = db.session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))).all()
    moment = now()
    waits = [int((_aware(r.blocked_until) - moment).total_seconds()) + 1 for r in rows
             if r.blocked_until and _aware(r.blocked_until) > moment]
    return max(waits, default=0)


def count_failure(keys: list[str]) -> None:
    """One more miss on each key, each in one atomic upsert; from LOGIN_FREE_ATTEMPTS on, wait 2, 4, 8 … seconds
    (capped), never a permanent lockout. Old misses (the failure window) are forgotten."""
    for key in sorted(keys):
        _count(key, current_app.config["LOGIN_FREE_ATTEMPTS"])


def _count(key: str, free: int) -> None:
    """One more failure on a key in one atomic upsert, and its growing delay once past `free`."""
    cfg = current_app.config
    cap = cfg["LOGIN_MAX_DELAY_SECONDS"]
    window = timedelta(seconds=cfg.get("LOGIN_FAILURE_WINDOW_SECONDS", 3600))
    moment = now()
    table = LoginThrottle.__table__
    stmt = _upsert()(table).values(key=key, failures=1, updated_at=moment).on_conflict_do_update(
        index_elements=[table.c.key],
        set_={"failures": case((table.c.updated_at < moment - window, 1), else_=table.c.failures + 1),
              "updated_at": moment},
    ).returning(table.c.failures)
    failures = db.session.execute(stmt).scalar_one()
    if failures >= free:
        delay = min(2 ** min(failures - free + 1, 30), cap)
        db.session.execute(update(LoginThrottle).where(LoginThrottle.key == key)
                           .values(blocked_until=moment + timedelta(seconds=delay)))


def clear(keys: list[str]) -> None:
    """Forget the counters of these keys (a success)."""
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys)))

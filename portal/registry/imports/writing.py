"""Writing members and their «joined» events: through the session (SQLite), or COPY with a staging
fallback (PostgreSQL); the registry's duplicate check by person key."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import cached_property

import psycopg
from sqlalchemy import String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

from portal.bulk import insert_rows, is_postgres
from portal.extensions import db
from portal.registry.imports.rows import NULL, Staged
from portal.registry.models import CardStatus, ConsentStatus, EventKind, Member, MemberEvent, MemberStatus

MEMBER_COLUMNS = ("id", "org_id", "last_name", "first_name", "patronymic", "last_name_folded", "person_key",
                  "birth_date", "gender", "department", "position", "education", "dues_form", "joined_on",
                  "tenure_start", "category", "address", "phone", "email", "id_doc_type", "id_doc_number",
                  "id_doc_issued_on", "id_doc_issuer", "status", "status_since", "consent_status", "card_status",
                  "card_number")
EVENT_COLUMNS = ("member_id", "kind", "on_date", "to_org_id", "reason", "actor_id")


def _key_condition(keys: list[str]):
    """`person_key IN (…)` for one chunk; on PostgreSQL written `= ANY(array)`: one parameter, planned once."""
    if is_postgres():
        return Member.person_key == any_(bindparam("keys", keys, type_=ARRAY(String)))
    return Member.person_key.in_(keys)


def registered_keys(keys: Iterable[str]) -> dict[str, tuple[int, MemberStatus]]:
    """{person_key: (org_id, status)} for the keys already in the registry, by chunked IN queries on the index."""
    keys = list(keys)
    found: dict[str, tuple[int, MemberStatus]] = {}
    size = 5000 if is_postgres() else 500  # SQLite caps the number of bound parameters per statement
    for start in range(0, len(keys), size):
        chunk = keys[start:start + size]
        for key, org_id, status in db.session.execute(
                select(Member.person_key, Member.org_id, Member.status).where(_key_condition(chunk))):
            found[key] = (org_id, status)
    return found


def _write(org_id: int, ids: list[int], fresh: list[Staged], actor_id: int | None) -> int:
    """Write members and their «joined» events through the session (SQLite; PostgreSQL uses `_write_chunk`)."""
    active, no_consent, no_card, joined_kind = (MemberStatus.ACTIVE.value, ConsentStatus.NONE.value,
                                                CardStatus.NOT_ORDERED.value, EventKind.JOINED.value)
    members = []
    events = []
    for new_id, r in zip(ids, fresh, strict=True):
        joined = date.fromisoformat(r.joined_on)
        members.append((new_id, org_id, r.last_name, r.first_name, r.patronymic, r.last_name_folded, r.person_key,
                        date.fromisoformat(r.birth_date), r.gender, r.department, r.position, r.education,
                        r.dues_form, joined, joined, r.category, r.address, r.phone, r.email, r.id_doc_type,
                        r.id_doc_number, None if r.id_doc_issued_on == NULL else date.fromisoformat(r.id_doc_issued_on),
                        r.id_doc_issuer, active, joined, no_consent, no_card, None))
        events.append((new_id, joined_kind, joined, org_id, "", actor_id))
    insert_rows(Member.__table__, MEMBER_COLUMNS, members)
    insert_rows(MemberEvent.__table__, EVENT_COLUMNS, events)
    return len(members)


# ---- the PostgreSQL bulk path ---------------------------------------------------------------------------------------
#
# A chunk is written with one COPY into `members` (ids drawn from the sequence first) and one into `member_events`,
# inside a savepoint. The unique index on person_key is the registry's duplicate check: a chunk holding a person
# the registry already has (a re-import, or the same person imported elsewhere meanwhile) fails as a whole on it,
# is rolled back to the savepoint and written again through a staging table with `INSERT … ON CONFLICT DO
# NOTHING`, which skips exactly the known people and says which they were. New people — the bulk of a first
# import — so cost one COPY each and no look-up; a list of mostly known people costs a failed COPY per chunk more.
# The COPY text is built in the reading thread, so the writing thread only sends bytes.

STAGE_COLUMNS = Staged._fields
_MEMBER_COPY = ("id", "org_id", *STAGE_COLUMNS, "tenure_start", "status", "status_since", "consent_status",
                "card_status")
_EVENT_COPY = ("member_id", "kind", "on_date", "to_org_id", "reason", "actor_id")
MEMBER_COPY_SQL = f"COPY members ({', '.join(_MEMBER_COPY)}) FROM STDIN"
EVENT_COPY_SQL = f"COPY member_events ({', '.join(_EVENT_COPY)}) FROM STDIN"
_STAGE = "member_import_stage"
_STAGE_CREATE = (f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} AS SELECT {', '.join(STAGE_COLUMNS)} FROM members "
                 "WITH NO DATA")
_STAGE_INSERT = f"""
WITH ins AS (
    INSERT INTO members (org_id, {", ".join(STAGE_COLUMNS)}, tenure_start, status, status_since, consent_status,
                         card_status)
    SELECT %(org)s, {", ".join(f"s.{c}" for c in STAGE_COLUMNS)}, s.joined_on, '{MemberStatus.ACTIVE.value}',
           s.joined_on, '{ConsentStatus.NONE.value}', '{CardStatus.NOT_ORDERED.value}'
    FROM {_STAGE} s ORDER BY s.person_key
    ON CONFLICT (person_key) DO NOTHING
    RETURNING id, person_key, joined_on
), events AS (
    INSERT INTO member_events (member_id, kind, on_date, to_org_id, reason, actor_id)
    SELECT id, '{EventKind.JOINED.value}', joined_on, %(org)s, '', %(actor)s FROM ins
)
SELECT s.person_key FROM {_STAGE} s LEFT JOIN ins ON ins.person_key = s.person_key WHERE ins.person_key IS NULL
"""
_ISSUED_AT = STAGE_COLUMNS.index("id_doc_issued_on")  # a date or COPY's NULL, never escaped
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@dataclass
class ChunkPayload:
    """One chunk's valid rows as COPY text: the staged values of each row (STAGE_COLUMNS), and the text that
    follows a member's id in `members` (`_MEMBER_COPY`) and in `member_events` (`_EVENT_COPY`)."""

    count: int
    lines: list[str]
    member_tails: list[str]
    event_tails: list[str]

    @cached_property
    def staged(self) -> bytes:
        """COPY text for the staging table, needed only when a chunk meets registered people."""
        return ("\n".join(self.lines) + "\n").encode("utf-8")

    def members(self, ids: list[str]) -> bytes:
        """COPY text for `members` (`_MEMBER_COPY`), given the rows' ids as text."""
        return "".join([i + t for i, t in zip(ids, self.member_tails, strict=True)]).encode("utf-8")

    def events(self, ids: list[str]) -> bytes:
        """COPY text for `member_events` (`_EVENT_COPY`): each member's «joined» event."""
        return "".join([i + t for i, t in zip(ids, self.event_tails, strict=True)]).encode("utf-8")


def _chunk_payload(candidates: list[tuple[str, int, Staged]], org_id: int, actor_id: int | None) -> ChunkPayload:
    """COPY text of a chunk, built in the reading thread. Values were typed by `_text`, which leaves no tab or
    line break; a backslash is the only character COPY would misread, and is escaped."""
    lines = []
    member_tails = []
    event_tails = []
    active, no_consent, no_card = MemberStatus.ACTIVE.value, ConsentStatus.NONE.value, CardStatus.NOT_ORDERED.value
    org, kind = str(org_id), EventKind.JOINED.value
    actor = "\\N" if actor_id is None else str(actor_id)
    for _key, _number, row in candidates:
        line = "\t".join(row)
        if line.count("\\") > (row.id_doc_issued_on == NULL):  # COPY's own NULL stays as it is
            line = "\t".join(v if i == _ISSUED_AT else v.translate(_COPY_ESCAPES) for i, v in enumerate(row))
        joined = row.joined_on
        lines.append(line)
        member_tails.append(f"\t{org}\t{line}\t{joined}\t{active}\t{joined}\t{no_consent}\t{no_card}\n")
        event_tails.append(f"\t{kind}\t{joined}\t{org}\t\t{actor}\n")
    return ChunkPayload(len(lines), lines, member_tails, event_tails)


def new_member_ids(cur, count: int) -> list[str]:
    """`count` ids from the members' sequence, as text for COPY: one value to split rather than `count` rows to
    build (the writing thread shares the interpreter with the reading one, and the server waits meanwhile)."""
    text = cur.execute("SELECT string_agg(nextval(pg_get_serial_sequence('members', 'id'))::text, ' ') "
                       "FROM generate_series(1, %s)", (count,)).fetchone()[0]
    return text.split(" ") if count > 0 else []


def _write_chunk(payload: ChunkPayload, org_id: int, actor_id: int | None, conn) -> tuple[int, list[str]]:
    """Write a chunk's members and «joined» events; returns (how many were written, the person keys the registry
    already had). Runs on a psycopg connection in BackgroundCopy's thread, inside the session's transaction."""
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT member_import_chunk")
        try:
            ids = new_member_ids(cur, payload.count)
            with cur.copy(MEMBER_COPY_SQL) as copy:
                copy.write(payload.members(ids))
            with cur.copy(EVENT_COPY_SQL) as copy:
                copy.write(payload.events(ids))
        except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected):
            # A registered person, or two imports of overlapping lists waiting for each other's people: the
            # staging path skips whoever is registered, waiting for the other import's chunk to commit first.
            cur.execute("ROLLBACK TO SAVEPOINT member_import_chunk")
            return _stage_and_insert(payload, org_id, actor_id, cur)
        cur.execute("RELEASE SAVEPOINT member_import_chunk")
    return payload.count, []


def _stage_and_insert(payload: ChunkPayload, org_id: int, actor_id: int | None, cur) -> tuple[int, list[str]]:
    """COPY a chunk into the staging table, then insert the members not in the registry yet with their «joined»
    events in one statement. JIT is off for the insert: compiling it costs more than the insert itself, and a
    transaction-local setting is restored."""
    cur.execute(_STAGE_CREATE)
    cur.execute(f"TRUNCATE {_STAGE}")
    with cur.copy(f"COPY {_STAGE} ({', '.join(STAGE_COLUMNS)}) FROM STDIN") as copy:
        copy.write(payload.staged)
    jit = cur.execute("SELECT current_setting('jit'), set_config('jit', 'off', true)").fetchone()[0]
    refused = [r[0] for r in cur.execute(_STAGE_INSERT, {"org": org_id, "actor": actor_id}).fetchall()]
    cur.execute("SELECT set_config('jit', %s, true)", (jit,))
    return payload.count - len(refused), refused

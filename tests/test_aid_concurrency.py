"""Races on PostgreSQL: two presidium members deciding one petition at once, two chairs filing for one member."""

from __future__ import annotations

import threading
import urllib.request
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.aid import operations as ops
from portal.aid.models import AidPetition, PetitionState
from portal.auth.models import Role, User
from portal.clock import today
from portal.extensions import db
from portal.registry.models import Member
from tests.aid_helpers import BIK, account, aid_fixture, decision, petition_in, treatment  # noqa: F401
from tests.conftest import create_member, create_user
from workflows import AID_PETITION, WorkflowConflict, WorkflowError, history

pytestmark = pytest.mark.postgres


def _race(app, n, work):
    """Run `work(i)` in n threads released together, each in its own app context; collect what they return."""
    barrier = threading.Barrier(n)
    outcomes = []

    def worker(i):
        with app.app_context():
            try:
                outcomes.append(work(i, barrier))
            except BaseException as e:  # a broken worker must fail the test, not leave the others at the barrier
                barrier.abort()
                outcomes.append(("error", repr(e)))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_two_decisions_at_once_one_wins(make_app, aid, database):
    if database["kind"] != "postgresql":
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL) for concurrent transactions")
    p = petition_in(aid, "reviewed")
    p_id = p.id  # the threads never touch this session's objects
    deciders = [aid.users["presidium_member"].id, aid.users["presidium_member2"].id]
    deciders += [create_user(aid.world.region_a, Role.PRESIDIUM_MEMBER, f"presidium{i}").id for i in range(3, 7)]
    version = p.version
    app2 = make_app()

    def work(i, barrier):
        petition = db.session.get(AidPetition, p_id)
        user = db.session.get(User, deciders[i])
        action = "approve" if i % 2 == 0 else "reject"
        barrier.wait()
        try:
            ops.act(petition, action, user, params=decision(decision_number=f"{i}"), comment="причина",
                    expected_version=version)
            db.session.commit()
            return ("won", action, i)
        except WorkflowConflict as e:
            db.session.rollback()
            assert "Обновите страницу" in e.message
            return ("conflict", action, i)
        except WorkflowError as e:  # a loser that read the petition after the winner committed
            db.session.rollback()
            return ("conflict", action, e.message)

    outcomes = _race(app2, len(deciders), work)
    won = [o for o in outcomes if o[0] == "won"]
    assert not [o for o in outcomes if o[0] == "error"], outcomes
    assert len(won) == 1 and len(outcomes) == len(deciders)
    with app2.app_context():
        fresh = db.session.get(AidPetition, p_id)
        entries = [h for h in history(AID_PETITION, fresh) if h.action in ("approve", "reject")]
        assert len(entries) == 1 and entries[0].action == won[0][1]
        assert fresh.version == version + 1
        assert fresh.decision_number == str(won[0][2])  # the loser's staged fields were rolled back
        assert fresh.state == (PetitionState.APPROVED if won[0][1] == "approve" else PetitionState.REJECTED)


def test_two_chairs_filing_for_one_member_at_once(make_app, aid, database):
    if database["kind"] != "postgresql":
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL) for concurrent transactions")
    member_id = create_member(aid.world.school_a).id
    chairs = [aid.users["primary_chair"].id] + [create_user(aid.world.school_a, Role.PRIMARY_CHAIR, f"chair{i}").id
                                                for i in range(3)]
    app2 = make_app()

    def work(i, barrier):
        chair = db.session.get(User, chairs[i])
        m = db.session.get(Member, member_id)
        barrier.wait()
        try:
            ops.file_petition(chair, m, treatment(), today() - timedelta(days=1), "9", account(m.id), BIK, "Банк")
            db.session.commit()
            return "filed"
        except ops.AidError as e:
            db.session.rollback()
            assert "уже есть ходатайство" in e.message
            return "refused"

    outcomes = _race(app2, len(chairs), work)
    assert sorted(outcomes) == ["filed"] + ["refused"] * (len(chairs) - 1)
    with app2.app_context():
        assert db.session.scalar(select(func.count()).select_from(AidPetition)
                                 .where(AidPetition.member_id == member_id)) == 1


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_two_presidium_members_over_http_at_once(make_app, aid, database):
    """The same race through a real threaded HTTP server: one decision is recorded, the other member gets 409."""
    if database["kind"] != "postgresql":
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL) for concurrent transactions")
    import http.cookiejar
    import urllib.error
    import urllib.parse

    from tests.browser.conftest import serve_in_thread
    from tests.conftest import PASSWORD

    p = petition_in(aid, "reviewed")
    p_id, version = p.id, p.version
    logins = [aid.users["presidium_member"].login, aid.users["presidium_member2"].login]
    db.session.remove()
    app = make_app(LOGIN_FREE_ATTEMPTS=1000)
    server, thread, url = serve_in_thread(app)
    try:
        openers = []
        for name in logins:
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                                 _NoRedirect)
            try:
                opener.open(url + "/login", urllib.parse.urlencode({"login": name, "password": PASSWORD}).encode())
            except urllib.error.HTTPError as e:
                assert e.code == 302
            openers.append(opener)
        barrier = threading.Barrier(2)
        statuses, bodies = [], []

        def decide(i):
            action = "approve" if i == 0 else "reject"
            data = urllib.parse.urlencode({"decision_date": today().isoformat(), "decision_number": f"{i + 1}",
                                           "comment": "причина", "version": str(version)}).encode()
            barrier.wait()
            try:
                r = openers[i].open(f"{url}/aid/petitions/{p_id}/{action}", data)
                statuses.append(r.status)
            except urllib.error.HTTPError as e:  # without redirects, the winner's 302 arrives here too
                statuses.append(e.code)
                if e.code != 302:
                    bodies.append(e.read().decode())

        threads = [threading.Thread(target=decide, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert sorted(statuses) == [302, 409], (statuses, [b[:300] for b in bodies])
    assert "Обновите страницу" in bodies[0]
    with app.app_context():
        fresh = db.session.get(AidPetition, p_id)
        assert fresh.state in (PetitionState.APPROVED, PetitionState.REJECTED) and fresh.version == version + 1
        assert len([h for h in history(AID_PETITION, fresh) if h.action in ("approve", "reject")]) == 1

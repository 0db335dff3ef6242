"""The workflow engine: definitions as data, every refusal with a reason, history, and one winner of two."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.consent.models import ConsentRecord
from portal.extensions import db
from portal.registry.models import ConsentStatus, Member
from tests.conftest import create_member
from workflows import ALL, CONSENT, WorkflowConflict, WorkflowError, available, fire, history, may, problems


@pytest.mark.parametrize("wf", list(ALL.values()), ids=list(ALL))
def test_every_definition_is_complete(wf):
    assert wf.initial in wf.states
    for t in wf.transitions.values():
        assert t.title and t.roles, t.name
    reachable = {wf.initial}
    changed = True
    while changed:
        changed = False
        for t in wf.transitions.values():
            if set(t.source) & reachable and t.dest not in reachable:
                reachable.add(t.dest)
                changed = True
    assert reachable == set(wf.states), f"unreachable: {set(wf.states) - reachable}"


def test_consent_path_records_history(app, world):
    chair = world.users["primary_chair"]
    m = world.members["a"]
    fire(CONSENT, m, "print", chair)
    fire(CONSENT, m, "sign", chair, params={"on_date": date.today()})
    db.session.commit()
    assert m.consent_status == ConsentStatus.SIGNED and m.consent_version == 2
    fire(CONSENT, m, "transfer", None)
    db.session.commit()
    rows = history(CONSENT, m)
    assert [(h.action, h.from_state, h.to_state, h.actor_login) for h in rows] == [
        ("print", "none", "printed", "schoolchair"), ("sign", "printed", "signed", "schoolchair"),
        ("transfer", "signed", "transferred", "")]


@pytest.mark.parametrize("action,actor_key,message", [
    ("sign", "primary_chair", "невозможно в состоянии «нет согласия»"),  # wrong state
    ("transfer", "primary_chair", "невозможно в состоянии"),
    ("withdraw", "primary_chair", "невозможно в состоянии"),
    ("print", "other_region_chair", "вам не разрешено"),  # outside scope
    ("nonsense", "primary_chair", "Такого действия нет"),
])
def test_refused_transitions_change_nothing(app, world, action, actor_key, message):
    m = world.members["a"]
    with pytest.raises(WorkflowError) as err:
        fire(CONSENT, m, action, world.users[actor_key], params={"on_date": date.today()})
    assert message in err.value.message and err.value.status == 409
    db.session.rollback()
    db.session.refresh(m)
    assert m.consent_status == ConsentStatus.NONE and m.consent_version == 0
    assert history(CONSENT, m) == []


def test_system_only_transition_refuses_people(app, world):
    m = world.members["a"]
    chair = world.users["primary_chair"]
    fire(CONSENT, m, "print", chair)
    fire(CONSENT, m, "sign", chair, params={"on_date": date.today()})
    assert "вам не разрешено" in problems(CONSENT, m, "transfer", chair)[0]
    assert may(CONSENT, m, "transfer", None, {})


def test_guards_give_reasons(app, world):
    m = world.members["a"]
    chair = world.users["primary_chair"]
    fire(CONSENT, m, "print", chair)
    assert problems(CONSENT, m, "sign", chair, {}) == ["Укажите дату подписания согласия."]
    assert problems(CONSENT, m, "sign", chair, {"on_date": date.today() + timedelta(days=1)}) == [
        "Дата подписания не может быть в будущем."]
    assert [t.name for t in available(CONSENT, m, chair)] == ["sign", "withdraw"]
    with pytest.raises(WorkflowError, match="Укажите дату подписания"):
        fire(CONSENT, m, "sign", chair)


def test_withdrawal_needs_a_reason(app, world):
    m = world.members["a"]
    chair = world.users["primary_chair"]
    fire(CONSENT, m, "print", chair)
    with pytest.raises(WorkflowError, match="нужно указать причину"):
        fire(CONSENT, m, "withdraw", chair, params={"on_date": date.today()})
    fire(CONSENT, m, "withdraw", chair, comment="заявление об отзыве", params={"on_date": date.today()})
    assert m.consent_status == ConsentStatus.WITHDRAWN


def test_stale_copy_loses(make_app, world):
    """Two people load the same member; the first to fire wins, the second gets a conflict and changes nothing."""
    m_id = world.members["a"].id
    chair_id = world.users["primary_chair"].id
    from portal.auth.models import User

    second = make_app()
    with second.app_context():
        stale = db.session.get(Member, m_id)
        stale_chair = db.session.get(User, chair_id)
        assert stale.consent_version == 0
        first = make_app()
        with first.app_context():
            fresh = db.session.get(Member, m_id)
            fire(CONSENT, fresh, "print", db.session.get(User, chair_id))
            db.session.commit()
        with pytest.raises(WorkflowConflict):
            fire(CONSENT, stale, "print", stale_chair)
    with second.app_context():
        rows = history(CONSENT, db.session.get(Member, m_id))
        assert len(rows) == 1
        # The loser's consent record (a row effect, written in the transition's statement) is not there either.
        assert db.session.scalar(select(func.count()).select_from(ConsentRecord).where(
            ConsentRecord.member_id == m_id)) == 1


@pytest.mark.postgres
def test_two_simultaneous_transitions_one_wins(make_app, world, database):
    """Real concurrency on PostgreSQL: eight threads fire the same transition at once; exactly one wins."""
    if database["kind"] != "postgresql":
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL) for concurrent transactions")
    m_id = world.members["a"].id
    chair_id = world.users["primary_chair"].id
    from portal.auth.models import User

    app2 = make_app()
    barrier = threading.Barrier(8)
    outcomes = []

    def worker():
        with app2.app_context():
            member = db.session.get(Member, m_id)
            chair = db.session.get(User, chair_id)
            barrier.wait()
            try:
                fire(CONSENT, member, "print", chair)
                db.session.commit()
                outcomes.append("won")
            except WorkflowConflict:
                outcomes.append("conflict")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    with app2.app_context():
        assert len(history(CONSENT, db.session.get(Member, m_id))) == 1
        assert db.session.scalar(select(func.count()).select_from(ConsentRecord).where(
            ConsentRecord.member_id == m_id)) == 1
        assert db.session.scalar(select(Member.consent_version).where(Member.id == m_id)) == 1


def test_members_outside_scope_cannot_be_moved(app, world):
    chair = world.users["primary_chair"]
    foreign = create_member(world.school_b, last_name="Чужая")
    assert not may(CONSENT, foreign, "print", chair)

"""The statistical report on a hand-built tree where every figure is known."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from portal.clock import today
from portal.extensions import db
from portal.registry import operations as ops
from portal.registry.models import Category, EventKind, Gender, InstitutionKind, OrgLevel
from portal.stats.counts import check, years_before
from portal.stats.report import compute, level_figures
from tests.conftest import create_member, create_org

D = date(today().year, 1, 1)
LAST_YEAR = D.year - 1


@pytest.fixture
def tree(app):
    c = create_org(None, OrgLevel.CENTRAL, "ЦС")
    r = create_org(c, OrgLevel.REGIONAL, "Регион")
    t = create_org(r, OrgLevel.TERRITORIAL, "Город")
    p1 = create_org(t, OrgLevel.PRIMARY, "П1", staff_count=10, chair_name="Петрова", chair_gender=Gender.FEMALE,
                    chair_released=True, committee_size=5, audit_commission_size=3)
    p2 = create_org(t, OrgLevel.PRIMARY, "П2", staff_count=5, chair_name="Петров", chair_gender=Gender.MALE,
                    committee_size=3)
    p4 = create_org(t, OrgLevel.PRIMARY, "П4 без численности", staff_count=None)
    p3 = create_org(r, OrgLevel.PRIMARY, "П3 студенты", kind=InstitutionKind.STUDENTS, student_count=100)
    m = {}
    m["a"] = create_member(p1, birth_date=date(D.year - 35, 1, 1), joined_on=date(2010, 9, 1))  # 35 on D
    m["b"] = create_member(p1, birth_date=date(2000, 5, 5), joined_on=date(LAST_YEAR, 3, 1), gender=Gender.MALE)
    m["c"] = create_member(p1, joined_on=date(2015, 1, 1))
    ops.transfer_member(None, m["c"], p2, date(LAST_YEAR, 6, 1))
    m["d"] = create_member(p2, joined_on=date(2012, 1, 1))
    ops.end_membership(None, m["d"], EventKind.LEFT, date(LAST_YEAR, 4, 1))
    m["e"] = create_member(p2, joined_on=date(2011, 1, 1))
    ops.end_membership(None, m["e"], EventKind.EXCLUDED, date(LAST_YEAR - 1, 1, 10), reason="протокол № 3")
    ops.readmit_member(None, m["e"], date(LAST_YEAR, 2, 1))
    m["f"] = create_member(p3, joined_on=date(LAST_YEAR - 1, 9, 1), category=Category.STUDENT,
                           birth_date=date(2005, 1, 1))
    m["g"] = create_member(p1, joined_on=min(today(), date(D.year, 2, 1)))  # after the report date
    m["h"] = create_member(p2, joined_on=date(2015, 1, 1))
    ops.transfer_member(None, m["h"], p1, min(today(), date(D.year, 3, 1)))  # after the report date
    m["i"] = create_member(p4, joined_on=date(2020, 1, 1))
    db.session.commit()
    return {"c": c, "r": r, "t": t, "p1": p1, "p2": p2, "p3": p3, "p4": p4, "m": m}


def test_every_figure_of_a_past_date(tree):
    p1, p2, p3, p4, t, r = (tree[k] for k in ("p1", "p2", "p3", "p4", "t", "r"))
    rep = compute(r, D)
    own = rep.own
    assert not rep.live and rep.since == date(LAST_YEAR, 1, 1)
    assert own[p1.id]["members"] == 2 and own[p1.id]["age:1"] == 1 and own[p1.id]["age:0"] == 1
    assert own[p1.id]["joined"] == 1 and own[p1.id]["transferred_out"] == 1
    assert own[p1.id]["gender:M"] == 1 and own[p1.id]["gender:F"] == 1
    assert own[p2.id]["members"] == 3  # c moved in, e re-admitted, h leaves only after the date
    assert own[p2.id]["left"] == 1 and own[p2.id]["joined"] == 1 and own[p2.id]["readmitted"] == 1
    assert own[p2.id]["transferred_in"] == 1 and own[p2.id]["excluded"] == 0
    assert own[p3.id]["members"] == 1 and own[p3.id]["category:student"] == 1
    assert own[p4.id]["members"] == 1
    # Rolled up: sums of the children, never averaged percentages.
    assert rep.total[t.id]["members"] == 6 and rep.total[r.id]["members"] == 7
    for key in ("members", "joined", "left", "level_num", "level_den", "age:0", "age:1"):
        assert rep.total[t.id][key] == sum(rep.total[ch.id][key] for ch in rep.children(t.id)) + own[t.id][key]
    assert rep.total[r.id]["level_num"] == 2 + 3 + 1 and rep.total[r.id]["level_den"] == 10 + 5 + 100
    assert level_figures(rep.total[r.id]) == {"level": round(600 / 115, 1), "working": round(500 / 15, 1),
                                              "students": 1.0}
    # The organisation without a staff count is a data problem, not silently counted.
    assert [p.org_id for p in rep.problems] == [p4.id]
    assert rep.total[r.id]["problem_orgs"] == 1
    # Chairs and bodies (SPEC §9).
    tot = rep.total[t.id]
    assert (tot["chair:F"], tot["chair:M"], tot["chair:released"], tot["committee"], tot["audit_commission"],
            tot["primaries"]) == (1, 1, 1, 8, 3, 3)


def test_live_report_equals_the_kept_counts_and_rolls_up(tree):
    r, p1, p2 = tree["r"], tree["p1"], tree["p2"]
    assert check() == []
    rep = compute(r, today())
    assert rep.live
    assert rep.own[p1.id]["members"] == 4 and rep.own[p2.id]["members"] == 2  # g joined, h moved in
    assert rep.total[r.id]["members"] == 8
    whole = Counter()
    for child in rep.children(r.id):
        whole.update(rep.total[child.id])
    assert all(rep.total[r.id][k] == whole[k] + rep.own[r.id][k] for k in set(whole) | set(rep.total[r.id]))
    # More members than staff is a data problem too.
    p2.staff_count = 1
    db.session.commit()
    assert {p.org_id for p in compute(r, today()).problems} == {p2.id, tree["p4"].id}


def test_cabinet_coverage_counts_open_accounts_of_active_members(tree):
    """The member cabinet (issue 11): open accounts (member_accounts, closed_at empty) of active members count."""
    from portal.cabinet.models import MemberAccount

    m = tree["m"]
    closed = datetime.now(UTC)
    for member, closed_at in ((m["a"], None), (m["b"], None),
                              (m["d"], None),  # left: not counted
                              (m["f"], closed)):  # closed
        account = MemberAccount(member_id=member.id, email=f"m{member.id}@example.org", phone="",
                                session_version=1, rules_accepted_at=closed, verify_token=MemberAccount.new_verify_token(),
                                closed_at=closed_at, closed_reason="consent_withdrawn" if closed_at else "")
        account.set_password("member-pass-2026")
        db.session.add(account)
    db.session.commit()
    rep = compute(tree["r"], today())
    assert {i: c["cabinets"] for i, c in rep.own.items() if c["cabinets"]} == {tree["p1"].id: 2}
    assert rep.total[tree["r"].id]["cabinets"] == 2
    assert compute(tree["p1"], today()).own[tree["p1"].id]["cabinets"] == 2  # a primary on its own


def assert_children_only_agrees(org):
    """The shallow report (root and children, summed in SQL) gives exactly the full report's figures for them."""
    full, shallow = compute(org, today()), compute(org, today(), children_only=True)
    assert shallow.shallow and not full.shallow
    assert set(shallow.orgs) == {org.id, *(ch.id for ch in full.children(org.id))}
    for i in shallow.orgs:
        assert +shallow.total[i] == +full.total[i], (i, shallow.total[i] - full.total[i], full.total[i] - shallow.total[i])
        assert shallow.changed_at.get(i) == full.changed_at.get(i)
    assert [(p.org_id, p.members, p.potential) for p in shallow.problems] == \
        [(p.org_id, p.members, p.potential) for p in full.problems]
    assert shallow.ages_kept_on == full.ages_kept_on == today()
    assert [c.id for c in shallow.children(org.id)] == [c.id for c in full.children(org.id)]


def test_children_only_report_equals_the_full_one(tree):
    m = tree["m"]
    ops.update_member(None, m["b"], {"birth_date": years_before(today() + timedelta(days=2), 35)})
    db.session.commit()
    for key in ("c", "r", "t"):
        assert_children_only_agrees(tree[key])
    rep = compute(tree["r"], today() + timedelta(days=2), children_only=True)
    assert rep.total[tree["t"].id]["age:1"] == compute(tree["r"], today() + timedelta(days=2)).total[tree["t"].id]["age:1"]
    # A primary, or a past date, takes the full path.
    assert not compute(tree["p1"], today(), children_only=True).shallow
    assert not compute(tree["r"], D, children_only=True).shallow


def _history_since(day):
    from portal.stats.models import StatMeta

    db.session.merge(StatMeta(key="history_since", value=day.isoformat()))
    db.session.commit()


def test_a_past_date_takes_properties_as_they_stood(tree, app):
    """Category, consent and card changed after the report date do not change it; a change before it does."""
    from portal.consent import operations as consent_ops
    from portal.registry.models import CardStatus
    from portal.stats.models import MemberStatChange

    _history_since(D - timedelta(days=400))
    p1, r = tree["p1"], tree["r"]
    a = tree["m"]["a"]
    before = compute(r, D).own[p1.id]
    assert before["category:working"] == 2 and before["consent:none"] == 2 and before["card:not_ordered"] == 2
    ops.update_member(None, a, {"category": Category.PENSIONER})
    a.card_status = CardStatus.ORDERED
    db.session.commit()
    from portal.auth.models import Role
    from tests.conftest import create_user

    consent_ops.mark_printed(create_user(p1, Role.PRIMARY_CHAIR), a)
    db.session.commit()
    assert check() == []
    after = compute(r, D)
    assert +after.own[p1.id] == +before and after.properties_from is None
    live = compute(p1, today()).own[p1.id]
    assert live["category:pensioner"] == 1 and live["consent:printed"] == 1 and live["card:ordered"] == 1
    # The same changes dated before the report date: the past report shows them.
    db.session.execute(MemberStatChange.__table__.update().values(on_date=D - timedelta(days=1)))
    db.session.commit()
    moved = compute(r, D).own[p1.id]
    assert (moved["category:pensioner"], moved["consent:printed"], moved["card:ordered"]) == (1, 1, 1)
    assert moved["category:working"] == 1 and moved["members"] == 2
    # A date before the history began: the report says from when its properties are known.
    _history_since(D + timedelta(days=3))
    assert compute(r, D).properties_from == D + timedelta(days=3)


def test_the_report_page_says_when_properties_history_began(tree, app):
    from portal.auth.models import Role
    from tests.conftest import create_user, login

    _history_since(D + timedelta(days=3))
    client = app.test_client()
    login(client, create_user(tree["c"], Role.CENTRAL_ADMIN))
    page = client.get(f"/orgs/{tree['r'].id}/report?on={D.isoformat()}").get_data(as_text=True)
    assert 'data-testid="properties-note"' in page and (D + timedelta(days=3)).strftime("%d.%m.%Y") in page
    assert 'data-testid="properties-note"' not in client.get(f"/orgs/{tree['r'].id}/report?on={today().isoformat()}").get_data(as_text=True)

"""The chair's and the office's daily forms in a real browser (issue 9 items 5, 10, 13).

- a decision form marks its required fields, the browser checks them, and when the server refuses (the check
  bypassed) the page comes back with everything typed and the message next to the field;
- «согласия подписаны» for several members at once from the member list, and «выдан» for several cards at once from
  the request page, each with a per-member report;
- the start page on a 390 px phone names «more members than staff» as a data problem and leads to the staff count.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from portal.aid import operations as aid_ops
from portal.aid.models import AidPetition, PetitionState
from portal.auth.models import Role
from portal.cards import operations as card_ops
from portal.cards.models import Card, CardRequest, CardRequestItem, CardState, RequestState
from portal.clock import today
from portal.extensions import db
from portal.registry.models import ConsentStatus, Member, Organisation, OrgLevel
from tests.aid_helpers import attach_proof, file
from tests.browser.conftest import ACTION_TIMEOUT_MS, browser_login, fresh_session
from tests.browser.test_mobile import PHONE, _assert_no_sideways_scroll
from tests.conftest import create_member, create_org, create_user
from workflows import CARD, CARD_REQUEST, fire
from workflows.aid import seed_regulation

pytestmark = pytest.mark.browser


@pytest.fixture
def reviewed_petition(live_server):
    central = create_org(None, OrgLevel.CENTRAL, "ЦС Профсоюза")
    region = create_org(central, OrgLevel.REGIONAL, "Саратовская областная организация")
    school = create_org(region, OrgLevel.PRIMARY, "ППО МБОУ СОШ № 4 г. Саратова")
    aid_ops.save_regulation(None, region, seed_regulation(), valid_from=date(2020, 1, 1))
    db.session.commit()
    users = {"primary_chair": create_user(school, Role.PRIMARY_CHAIR, "chair4"),
             "regional_staff": create_user(region, Role.REGIONAL_STAFF, "saratov-staff"),
             "presidium": create_user(region, Role.PRESIDIUM_MEMBER, "saratov-presidium")}
    aid = SimpleNamespace(world=SimpleNamespace(school_a=school), users=users)
    p = file(aid)
    attach_proof(p)
    aid_ops.act(p, "review", users["regional_staff"])
    db.session.commit()
    out = SimpleNamespace(id=p.id, presidium=users["presidium"].login)
    fresh_session()
    return out


def test_a_refused_decision_keeps_what_was_typed(page, reviewed_petition):
    p = reviewed_petition
    browser_login(page, p.presidium)
    page.goto(f"/aid/petitions/{p.id}")
    form = page.get_by_test_id("aid-decision-form")
    number = form.locator("[name=decision_number]")
    comment = form.locator("[name=comment]")
    # Marked required, and the mark is visible next to the label.
    expect(number).to_have_attribute("required", "")
    expect(form.locator("label[for=decision_number] + span.text-danger")).to_have_text("*")
    comment.fill("Нет подтверждения оплаты путёвки")
    # The browser checks first: without the protocol number nothing is sent.
    page.get_by_test_id("aid-action-reject").click()
    assert number.evaluate("el => !el.validity.valid")
    expect(page).to_have_url(re.compile(rf"/aid/petitions/{p.id}$"))
    # The server checks the same: with the browser's check bypassed, the page comes back, 422, filled in.
    form.evaluate("f => { f.noValidate = true; }")
    with page.expect_response(re.compile(rf"/aid/petitions/{p.id}/reject$")) as answer:
        page.get_by_test_id("aid-action-reject").click()
    assert answer.value.status == 422
    form = page.get_by_test_id("aid-decision-form")
    expect(form.locator("[name=decision_number] ~ .invalid-feedback")).to_have_text("Обязательное поле.")
    expect(form.locator("[name=comment]")).to_have_value("Нет подтверждения оплаты путёвки")
    # A refusal needs its reason: the «Отказать» button makes the reason required in the browser too.
    form.locator("[name=decision_number]").fill("14")
    form.locator("[name=comment]").fill("")
    page.get_by_test_id("aid-action-reject").click()
    assert form.locator("[name=comment]").evaluate("el => el.required && !el.validity.valid")
    form.locator("[name=comment]").fill("Путёвка получена через соцзащиту")
    page.get_by_test_id("aid-action-reject").click()
    expect(page.get_by_test_id("aid-state")).to_have_text("отказано")
    fresh_session()
    assert db.session.get(AidPetition, p.id).state == PetitionState.REJECTED


def test_bulk_consents_and_bulk_hand_over(page, chair_world):
    school = db.session.get(Organisation, chair_world.school.id)
    printed = []
    for surname in ("Андреева", "Белова", "Волкова"):
        m = create_member(school, last_name=surname, first_name="Ольга")
        m.consent_status = ConsentStatus.PRINTED
        printed.append(m)
    db.session.commit()
    ids = [m.id for m in printed]
    fresh_session()

    # Step 7: two of three signed forms came back; one date for both.
    browser_login(page, chair_world.chair.login)
    page.goto(f"/orgs/{chair_world.school.id}/members")
    for m_id in ids[:2]:
        page.locator(f"input[name=member_ids][value='{m_id}']").check()
    signed_on = (date.today() - timedelta(days=1)).isoformat()
    page.locator("#bulk-on-date").fill(signed_on)
    page.get_by_test_id("bulk-sign-button").click()
    # The 152-FZ tick is required for this button only: nothing is sent without it.
    assert page.locator("#bulk-consent152").evaluate("el => el.required && !el.validity.valid")
    page.locator("#bulk-consent152").check()
    page.get_by_test_id("bulk-sign-button").click()
    report = page.get_by_test_id("bulk-report")
    expect(report.locator("tr[data-ok=yes]")).to_have_count(2)
    fresh_session()
    states = {m.id: m.consent_status for m in db.session.scalars(select_members(ids))}
    assert [states[i] for i in ids] == [ConsentStatus.SIGNED, ConsentStatus.SIGNED, ConsentStatus.PRINTED]

    # Step 10: the cards of a request arrived at the region; the chair hands over all of them at once.
    req_id, card_ids = _received_request(chair_world, ids[:2])
    page.goto(f"/card-requests/{req_id}")
    page.locator("input[data-check-all=card_ids]").check()  # «отметить все» (forms.js)
    for card_id in card_ids:
        expect(page.get_by_test_id(f"tick-card-{card_id}")).to_be_checked()
    page.get_by_test_id("hand-over-many").click()
    expect(page.get_by_test_id("bulk-report").locator("tr[data-ok=yes]")).to_have_count(2)
    expect(page.get_by_test_id("request-state")).to_have_text("выдана")
    fresh_session()
    assert {db.session.get(Card, c).state for c in card_ids} == {CardState.ISSUED}


def select_members(ids):
    from sqlalchemy import select

    return select(Member).where(Member.id.in_(ids))


def _received_request(world, member_ids) -> tuple[int, list[int]]:
    """A request of these members, processed, shipped and received by the region (through the workflows)."""
    from portal.clock import now

    school = db.session.get(Organisation, world.school.id)
    region_staff = create_user(db.session.get(Organisation, world.region.id), Role.REGIONAL_STAFF, "lipetsk-staff")
    req = CardRequest(org_id=school.id, state=RequestState.DRAFT)
    db.session.add(req)
    db.session.flush()
    for m_id in member_ids:
        db.session.add(CardRequestItem(request_id=req.id, member_id=m_id))
    db.session.flush()
    db.session.expire(req, ["items"])
    chair = db.session.get(type(region_staff), world.chair.id)
    fire(CARD_REQUEST, req, "submit", chair)
    req.submitted_at = now() - timedelta(minutes=1)
    db.session.commit()
    card_ops.process_due_requests(datetime.now(UTC) + timedelta(seconds=1), today())
    req = db.session.get(CardRequest, req.id)
    fire(CARD_REQUEST, req, "ship", region_staff, params={"on_date": today(), "tracking_number": "RA1"})
    fire(CARD_REQUEST, req, "receive", region_staff, params={"on_date": today()})
    db.session.commit()
    out = (req.id, [i.card_id for i in req.items])
    assert {db.session.get(Card, c).state for c in out[1]} == {CardState.RECEIVED}
    assert CARD.transitions["hand_over"].source == ("received",)
    fresh_session()
    return out


@pytest.fixture
def phone_page(browser, live_server):
    ctx = browser.new_context(base_url=live_server.url, locale="ru-RU", **PHONE)
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    p = ctx.new_page()
    yield p
    ctx.close()


def test_start_page_names_more_members_than_staff_on_a_phone(phone_page, chair_world):
    page = phone_page
    school = db.session.get(Organisation, chair_world.school.id)
    school.staff_count = 9
    for _ in range(40):
        create_member(school)
    db.session.commit()
    fresh_session()
    browser_login(page, chair_world.chair.login)
    page.goto(f"/orgs/{chair_world.school.id}")
    step = page.locator("[data-step=members]")
    expect(step).to_have_attribute("data-done", "no")
    expect(step).not_to_contain_text("готово")
    expect(step).to_contain_text("на учёте 40, а работающих по паспорту — 9")
    expect(page.get_by_test_id("membership-level")).to_have_text("—")
    expect(page.get_by_test_id("level-problem")).to_be_visible()
    _assert_no_sideways_scroll(page, "start page with a data problem")
    step.get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(rf"/orgs/{chair_world.school.id}/passport#staff_count$"))
    expect(page.locator("#staff_count")).to_have_value("9")
    page.locator("#staff_count").fill("45")
    page.locator("form").filter(has=page.locator("#staff_count")).locator("button[type=submit], button:not([type])").first.click()
    expect(page.get_by_test_id("membership-level")).to_contain_text("88,9")
    expect(page.locator("[data-step=members]")).to_have_attribute("data-done", "yes")


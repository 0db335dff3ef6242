"""Who may fire which consent, card-request and card transition over HTTP, role by role (SPEC §2, §4–§5, README).

The expected answers are written out by hand below from the specification and the README's decisions, never read
from `workflows/`: a definition that grants a role more (or less) than the specification fails here. Every case
puts a fresh object inside the role's scope in the transition's source state, posts the page's form as the browser
does, and checks the outcome: allowed — the state moved, the version went up by one and one history row says who;
refused — the app's 4xx with a Russian message, and nothing changed (the object's row, its members' rows, its
history, consent records, cards).

One app, database and set of logged-in clients serve the whole module (a fresh database for each of ~240 cases
made it minutes); every case makes its own member, request or card, so no case sees another's object.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import pytest
from flask import g, request_started
from sqlalchemy import func, select

from portal import create_app
from portal.auth.models import Role, User
from portal.cards import operations as card_ops
from portal.cards.models import Card, CardRequest, CardRequestItem, CardState, RequestState
from portal.clock import now, today
from portal.consent.models import ConsentRecord
from portal.extensions import db
from portal.flows import WorkflowHistory
from portal.registry.models import CardStatus, ConsentStatus, Member, Organisation, OrgLevel
from tests.conftest import (
    BASE_CONFIG,
    _truncate_all,
    create_member,
    create_org,
    create_user,
    login,
    ready_for_consent,
)
from workflows import CARD, CARD_REQUEST, CONSENT

# ---- the expected table (hand-written) ---------------------------------------------------------------------------

ROLES = ["primary_chair", "territorial_chair", "regional_chair", "regional_staff", "central_admin",
         "presidium_member", "accountant", "news_editor"]

ALLOWED: dict[str, dict[str, set[str]]] = {
    # §2: a chair edits the members of their organisation (a territorial chair: of every primary below). §4: the
    # chair prints the form, records the signature, records a withdrawal. §5: the chair submits (or cancels) the
    # request, marks each card ВЫДАН when handing it over, marks it lost and has it reissued.
    "primary_chair": {"consent": {"print", "sign", "withdraw"}, "card_request": {"submit", "cancel"},
                      "card": {"hand_over", "lose", "reissue"}},
    "territorial_chair": {"consent": {"print", "sign", "withdraw"}, "card_request": {"submit", "cancel"},
                          "card": {"hand_over", "lose", "reissue"}},
    # §2: the regional office (chair and staff) sees and edits its whole region, the central office everything, so
    # they do what a chair does below them; §5: the regional office receives the cards and marks the shipment with
    # its tracking number; a card's production, shipping and blocking are the office's, not a primary's. Issue 9
    # item 10: only the regional office records that the shipment arrived («получены»), for the request or one card.
    "regional_chair": {"consent": {"print", "sign", "withdraw"},
                       "card_request": {"submit", "cancel", "ship", "receive"},
                       "card": {"produce", "ship", "receive", "hand_over", "lose", "block", "reissue"}},
    "regional_staff": {"consent": {"print", "sign", "withdraw"},
                       "card_request": {"submit", "cancel", "ship", "receive"},
                       "card": {"produce", "ship", "receive", "hand_over", "lose", "block", "reissue"}},
    "central_admin": {"consent": {"print", "sign", "withdraw"}, "card_request": {"submit", "cancel", "ship", "receive"},
                      "card": {"produce", "ship", "receive", "hand_over", "lose", "block", "reissue"}},
    # §2 and the README: the presidium and the accountant see aid petitions only, never the registry (152-FZ).
    "presidium_member": {"consent": set(), "card_request": set(), "card": set()},
    "accountant": {"consent": set(), "card_request": set(), "card": set()},
    # §8: the news editor writes news and mailings, and sees no registry (tests/test_news.py has the news table).
    "news_editor": {"consent": set(), "card_request": set(), "card": set()},
}

# A refusal: roles that see the registry get 409 with the reason; roles that don't, 404 like a missing object.
REFUSED_STATUS = {"primary_chair": 409, "territorial_chair": 409, "regional_chair": 409, "regional_staff": 409,
                  "central_admin": 409, "presidium_member": 404, "accountant": 404, "news_editor": 404}

# (workflow, action, source, destination) of every transition a person fires: SPEC §4–§5 and the README.
BY_PEOPLE = [
    ("consent", "print", "none", "printed"),
    ("consent", "print", "withdrawn", "printed"),  # README: after a withdrawal a new form can be printed
    ("consent", "sign", "printed", "signed"),
    ("consent", "withdraw", "printed", "withdrawn"),
    ("consent", "withdraw", "signed", "withdrawn"),
    ("consent", "withdraw", "transferred", "withdrawn"),
    ("card_request", "submit", "draft", "submitted"),
    ("card_request", "cancel", "draft", "cancelled"),
    ("card_request", "cancel", "submitted", "cancelled"),
    ("card_request", "ship", "processed", "shipped"),
    ("card_request", "receive", "shipped", "received"),  # issue 9 item 10: the shipment arrived
    ("card", "produce", "ordered", "produced"),
    ("card", "ship", "ordered", "shipped"),
    ("card", "ship", "produced", "shipped"),
    ("card", "receive", "shipped", "received"),
    ("card", "hand_over", "received", "issued"),  # ВЫДАН only after the region recorded the arrival
    ("card", "lose", "shipped", "lost"),
    ("card", "lose", "received", "lost"),
    ("card", "lose", "issued", "lost"),
    ("card", "block", "ordered", "blocked"),
    ("card", "block", "produced", "blocked"),
    ("card", "block", "shipped", "blocked"),
    ("card", "block", "received", "blocked"),
    ("card", "block", "issued", "blocked"),
    ("card", "reissue", "lost", "reissued"),
    ("card", "reissue", "blocked", "reissued"),
]

# Fired by jobs only: the daily PROFCARDS transfer, the 1st/15th processing, and a request becoming issued with its
# last card. No person fires them over HTTP: the consent has no page for it (404); the request page answers as for
# any refused action.
BY_SYSTEM = [
    ("consent", "transfer", "signed", "transferred"),
    ("card_request", "process", "submitted", "processed"),
    ("card_request", "issue", "received", "issued"),
]
SYSTEM_STATUS = {("consent", "transfer"): {role: 404 for role in ROLES},
                 ("card_request", "process"): REFUSED_STATUS, ("card_request", "issue"): REFUSED_STATUS}

WORKFLOWS = {"consent": CONSENT, "card_request": CARD_REQUEST, "card": CARD}

# ---- one world for the module -----------------------------------------------------------------------------------


@dataclass
class Env:
    app: object
    school: Organisation
    users: dict[str, User]
    clients: dict[str, object]


def _forget_login_user(sender, **extra):
    # The module's app context stays pushed and the clients' requests reuse it: without this, Flask-Login's cached
    # user of one client's request would act in the next client's request.
    g.pop("_login_user", None)


@pytest.fixture(scope="module")
def env(database, tmp_path_factory):
    folder = tmp_path_factory.mktemp("workflow_roles")
    if database["kind"] == "sqlite":
        shutil.copy(database["template"], folder / "portal.sqlite3")
        url = f"sqlite:///{folder / 'portal.sqlite3'}"
    else:
        url = database["url"]
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": url, "UPLOAD_DIR": str(folder / "uploads")})
    request_started.connect(_forget_login_user, app)
    try:
        with app.app_context():
            central = create_org(None, OrgLevel.CENTRAL, "ЦС Профсоюза")
            region = create_org(central, OrgLevel.REGIONAL, "Липецкая областная организация")
            city = create_org(region, OrgLevel.TERRITORIAL, "Городская организация г. Липецка")
            school = create_org(city, OrgLevel.PRIMARY, "ППО МБОУ СОШ № 17 г. Липецка")
            home = {"central_admin": central, "regional_chair": region, "regional_staff": region,
                    "presidium_member": region, "accountant": region, "territorial_chair": city,
                    "primary_chair": school, "news_editor": region}
            users = {role: create_user(home[role], Role(role), f"roles-{role}") for role in ROLES}
            clients = {}
            for role, user in users.items():
                clients[role] = app.test_client()
                login(clients[role], user)
            yield Env(app, school, users, clients)
            db.session.remove()
            db.engine.dispose()
    finally:
        request_started.disconnect(_forget_login_user, app)
        if database["kind"] == "postgresql":
            _truncate_all(app)


@pytest.fixture(autouse=True)
def _clean_session(env):
    yield
    db.session.rollback()  # a failed case must not leave the shared session in a broken transaction


# ---- objects in a given state -----------------------------------------------------------------------------------


def _member(env, consent: str = "signed", card: CardStatus = CardStatus.NOT_ORDERED) -> Member:
    m = ready_for_consent(create_member(env.school))
    m.consent_status = ConsentStatus(consent)
    m.consent_version = 3  # not 0: the version must go up by exactly one, not be reset
    m.card_status = card
    return m


def _card_for(m: Member, state: str, request_id: int | None = None) -> Card:
    card = Card(number=card_ops.card_number(card_ops.next_sequence(1)[0]), member_id=m.id, request_id=request_id,
                state=CardState(state), version=2)
    db.session.add(card)
    m.card_status, m.card_number = CardStatus(state), card.number
    db.session.flush()
    return card


def make(env, workflow: str, state: str):
    """A fresh object of `workflow` in `state`, inside the school the users' scopes hold; committed."""
    if workflow == "consent":
        obj = _member(env, consent=state)
    elif workflow == "card":
        obj = _card_for(_member(env), state)
    else:
        m = _member(env, card=CardStatus.ORDERED if state == "submitted" else CardStatus.NOT_ORDERED)
        obj = CardRequest(org_id=env.school.id, state=RequestState(state), version=2)
        if state != "draft":
            obj.submitted_at = now()
        db.session.add(obj)
        db.session.flush()
        card = None
        card_state = {"processed": "ordered", "shipped": "shipped", "received": "received",
                      "issued": "issued"}.get(state)
        if card_state:
            obj.processed_on = today()
            card = _card_for(m, card_state, obj.id)
        if state in ("shipped", "received", "issued"):
            obj.shipped_on, obj.tracking_number = today(), "RA000000001RU"
        if state in ("received", "issued"):
            obj.received_on = today()
        db.session.add(CardRequestItem(request_id=obj.id, member_id=m.id, card_id=card.id if card else None))
    db.session.commit()
    return obj


def post(client, workflow: str, obj, action: str):
    """Post the form of the page that fires `action`, filled in as a chair would."""
    on = today().isoformat()
    if workflow == "consent":
        data = {"on_date": on}
        if action == "print":
            data = {"fmt": "docx"}
        elif action == "sign":
            data["consent152"] = "yes"
        elif action == "withdraw":
            data["reason"] = "заявление члена Профсоюза об отзыве согласия"
        r = client.post(f"/members/{obj.id}/consent/{action}", data=data, content_type="multipart/form-data")
    elif workflow == "card_request":
        r = client.post(f"/card-requests/{obj.id}/{action}",
                        data={"on_date": on, "tracking_number": "RA123456789RU", "comment": ""})
    else:
        r = client.post(f"/cards/{obj.id}/{action}", data={"on_date": on, "comment": "заявление члена Профсоюза"})
    if r.status_code == 302:
        with client.session_transaction() as s:  # flashes of pages never opened would pile up in the cookie
            s.pop("_flashes", None)
    return r


def _rows(table, condition) -> list[dict]:
    return [dict(r) for r in db.session.execute(select(table).where(condition).order_by(table.c.id)).mappings()]


def snapshot(workflow: str, obj) -> dict:
    """Everything a transition of `obj` could touch, read straight from the database."""
    wf = WORKFLOWS[workflow]
    table = wf.model.__table__
    if workflow == "consent":
        member_ids = [obj.id]
    elif workflow == "card":
        member_ids = [db.session.scalar(select(Card.member_id).where(Card.id == obj.id))]
    else:
        member_ids = list(db.session.scalars(select(CardRequestItem.member_id)
                                             .where(CardRequestItem.request_id == obj.id)))
    return {
        "row": _rows(table, table.c.id == obj.id)[0],
        "members": _rows(Member.__table__, Member.id.in_(member_ids)),
        "cards": _rows(Card.__table__, Card.member_id.in_(member_ids)),
        "consent_records": _rows(ConsentRecord.__table__, ConsentRecord.member_id.in_(member_ids)),
        "history": db.session.scalar(select(func.count()).select_from(WorkflowHistory)),
    }


def _state(snap: dict, workflow: str) -> str:
    value = snap["row"][WORKFLOWS[workflow].state_attr]
    return getattr(value, "value", value)


def _version(snap: dict, workflow: str) -> int:
    return snap["row"][WORKFLOWS[workflow].version_attr]


def history_of(workflow: str, obj) -> list[tuple]:
    wf = WORKFLOWS[workflow]
    return [tuple(r) for r in db.session.execute(
        select(WorkflowHistory.action, WorkflowHistory.from_state, WorkflowHistory.to_state,
               WorkflowHistory.actor_login)
        .where(WorkflowHistory.workflow == wf.name, WorkflowHistory.object_id == obj.id)
        .order_by(WorkflowHistory.id))]


def not_yours(workflow: str, action: str) -> str:
    return f"Действие «{WORKFLOWS[workflow].transitions[action].title}» вам не разрешено."


def wrong_state(workflow: str, action: str, state: str) -> str:
    wf = WORKFLOWS[workflow]
    return f"Действие «{wf.transitions[action].title}» невозможно в состоянии «{wf.states[state].title}»."


def assert_refused(r, before: dict, after: dict, status: int, message: str):
    body = r.get_data(as_text=True)
    assert r.status_code == status, body[:300]
    assert message in body, body[:1000]
    assert after == before  # state, version, members, cards, consent records and history: all as they were


# ---- the tables are complete --------------------------------------------------------------------------------------


def test_the_tables_name_every_role_and_every_transition():
    assert set(ROLES) == {r.value for r in Role} == set(ALLOWED) == set(REFUSED_STATUS)
    defined = {(name, t.name, source, t.dest) for name, wf in WORKFLOWS.items()
               for t in wf.transitions.values() for source in t.source}
    assert defined == set(BY_PEOPLE) | set(BY_SYSTEM)  # a transition added to a definition needs a row here


def test_no_consent_page_fires_the_transfer(env):
    # The consent pages that post are these and only these; none of them fires the daily transfer.
    posting = {rule.endpoint for rule in env.app.url_map.iter_rules()
               if rule.endpoint.startswith("consent.") and "POST" in rule.methods}
    # consent.bulk_sign fires «sign» for many members (issue 9 item 10; tests/test_bulk_actions.py).
    assert posting == {"consent.print_form", "consent.sign", "consent.withdraw", "consent.batch_start",
                       "consent.bulk_sign"}


def fire(env, role, workflow, source, action):
    """An object of `workflow` in `source`, `action` posted on it by `role`: (object, row before, response, after)."""
    obj = make(env, workflow, source)
    before = snapshot(workflow, obj)
    r = post(env.clients[role], workflow, obj, action)
    return obj, before, r, snapshot(workflow, obj)


# ---- every role × every transition a person fires ----------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("workflow,action,source,dest", BY_PEOPLE, ids=[f"{w}-{a}-{s}" for w, a, s, _ in BY_PEOPLE])
def test_transition_per_role(env, workflow, action, source, dest, role):
    obj, before, r, after = fire(env, role, workflow, source, action)
    if action in ALLOWED[role][workflow]:
        assert r.status_code == (200 if action == "print" else 302), r.get_data(as_text=True)[:500]
        assert (_state(after, workflow), _version(after, workflow)) == (dest, _version(before, workflow) + 1)
        assert history_of(workflow, obj) == [(action, source, dest, env.users[role].login)]
    elif REFUSED_STATUS[role] == 404:
        assert_refused(r, before, after, 404, "Страница не найдена.")
    else:
        assert_refused(r, before, after, 409, not_yours(workflow, action))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("workflow,action,source,dest", BY_SYSTEM, ids=[f"{w}-{a}" for w, a, _, _ in BY_SYSTEM])
def test_no_staff_role_fires_a_system_transition(env, workflow, action, source, dest, role):
    _obj, before, r, after = fire(env, role, workflow, source, action)
    status = SYSTEM_STATUS[(workflow, action)][role]
    assert_refused(r, before, after, status,
                   not_yours(workflow, action) if status == 409 else "Страница не найдена.")


# ---- every (state, action) pair a workflow does not have -----------------------------------------------------------

# One role allowed every action of the workflow fires them; the pairs are all states × all actions minus the table.
PAIR_ROLE = {"consent": "primary_chair", "card_request": "regional_chair", "card": "regional_chair"}
_KNOWN = {(w, s, a) for w, a, s, _ in BY_PEOPLE + BY_SYSTEM}
NOT_IN_WORKFLOW = [(name, state, action) for name, wf in WORKFLOWS.items() for state in wf.states
                   for action in wf.transitions if (name, state, action) not in _KNOWN]


@pytest.mark.parametrize("workflow,state,action", NOT_IN_WORKFLOW, ids=[f"{w}-{s}-{a}" for w, s, a in NOT_IN_WORKFLOW])
def test_a_pair_not_in_the_workflow_is_409_and_changes_nothing(env, workflow, state, action):
    obj = make(env, workflow, state)
    before = snapshot(workflow, obj)
    r = post(env.clients[PAIR_ROLE[workflow]], workflow, obj, action)
    after = snapshot(workflow, obj)
    if (workflow, action) == ("consent", "print"):
        # The print page is a document: a reprint (a lost form) gives the file again and moves nothing.
        assert r.status_code == 200 and r.data[:2] == b"PK"
        assert after == before
    elif (workflow, action) == ("consent", "transfer"):
        assert_refused(r, before, after, 404, "Страница не найдена.")  # no page fires it, in any state
    else:
        assert_refused(r, before, after, 409, wrong_state(workflow, action, state))

"""The access matrix: every staff endpoint × every role × an object inside and outside the role's scope.

The endpoints come from `app.url_map`, so the matrix grows by itself: each URL argument is filled from its name
(`ARG_KINDS`: the kind of object it names, `WORDS`: the words it takes), each Flask-Admin view from its model
(`ADMIN_MODEL_KINDS`, `ADMIN_METHODS`). An endpoint the tables do not know fails the test with "add <endpoint> to
the access matrix"; only the few endpoints in `PUBLIC` are not staff pages.

For each role: an object outside the scope answers exactly as a missing id does (status, headers that matter, body
with CSRF tokens blanked), shows none of the foreign object's personal data, a POST changes none of its rows, and
the denial is audited whenever the same request on an object inside the scope was allowed. Central
administrators reach every endpoint with the inside objects, which proves the arguments are filled sensibly.
"""

from __future__ import annotations

import fnmatch
import html
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote, quote_plus, urlencode

import pytest
from sqlalchemy import func, select

from portal import audit, policy
from portal.aid import operations as aid_ops
from portal.aid.models import AidPetition, AidRegulation, AttachmentKind, PetitionAttachment
from portal.audit import AuditEntry
from portal.auth.models import Role, User
from portal.cards import operations as card_ops
from portal.cards.models import Card, CardRequest, CardRequestItem, CardState, ProductionBatch, RequestState
from portal.consent import operations as consent_ops
from portal.consent.models import BatchPrint, BonusExport, ConsentRecord
from portal.consent.views import BATCH_AREA, SCAN_AREA
from portal.extensions import db
from portal.files import store_bytes
from portal.mail.models import OutboxMessage
from portal.news.content import IMAGE_AREA
from portal.news.models import Mailing, NewsImage, NewsItem, NewsState
from portal.registry.imports import ImportJob, ImportStatus
from portal.registry.models import CardStatus, ConsentStatus, CorrectionRequest, Member, Organisation, OrgLevel
from portal.stats import operations as stats_ops
from portal.stats.models import StatSnapshot
from tests.aid_helpers import BIK, PDF, treatment
from tests.conftest import PASSWORD, create_user, login
from tests.security_helpers import (  # noqa: F401  (fresh_login_per_request is an autouse fixture)
    NONEXISTENT_IDS,
    fresh_login_per_request,
    normalised,
)
from workflows import AID_PETITION, CARD, CARD_REQUEST, NEWS_ITEM
from workflows import ALL as WORKFLOWS
from workflows.aid import seed_regulation

# ---- the tables: adding a kind of object or an endpoint is one entry ---------------------------------------------

# Endpoints that are not staff pages (no login needed, no registry data).
PUBLIC = {
    "static": "the portal's CSS and scripts",
    "bootstrap.static": "Bootstrap, served locally",
    "admin.static": "Flask-Admin's own static files",
    "auth.login": "the login form",
    "auth.logout": "ends the session (tests/test_auth.py covers it)",
    "i18n.switch": "the language switch: no data, redirects only to portal paths (portal.urls.safe_next)",
    "public_news.public_list": "public news (is_public items only)",
    "public_news.public_item": "a public news item (404 for any other, tests/test_news.py)",
    "public_news.feed_rss": "the RSS feed of public news",
    "public_news.feed_atom": "the Atom feed of public news",
    "public_news.search": "news search: the reader's scope decides (anonymous: public items; tests/test_news.py)",
    "public_news.image": "a news image, to whoever may read its item (tests/test_news.py)",
    "public_news.unsubscribe": "a mailing's signed unsubscribe link (a forged one is 404; tests/test_news.py)",
    # The member's side: the doors into the cabinet, and what an installed web app fetches before anyone logs in.
    "cabinet.register": "registration step 1 (tests/test_cabinet.py: one refusal for every reason, throttled)",
    "cabinet.register_account": "registration step 2: only after step 1 matched a card holder (session)",
    "cabinet.registered": "«check your mail»: shows the address typed in this session only",
    "cabinet.confirm_email": "the emailed single-use link",
    "cabinet.confirm_email_change": "the single-use link sent to a new email address (tests/test_cabinet.py)",
    "cabinet.login": "the member login form",
    "cabinet.reset_request": "asks for a reset link; the same answer for every card",
    "cabinet.reset": "the emailed single-use reset link (1 h)",
    "cabinet.closed": "«the cabinet is closed» after a withdrawal: no data",
    "cabinet.manifest": "the web app manifest: no data",
    "cabinet.service_worker": "the service worker script: no data",
    "verify.card": "public card verification: valid / not valid and «Имя Ф.» only (tests/test_cabinet.py)",
    "api.token_login": "the API's login: card number + password → bearer token (tests/test_api.py)",
    "api.openapi": "the API's OpenAPI document: no data",
    "favicon": "the portal's icon at /favicon.ico, where browsers look for it",
}

# Blueprints of the member's side: their endpoints are walked by member_targets, never by staff_targets.
MEMBER_BLUEPRINTS = {"cabinet", "api"}
# A member-side URL argument → the kind of the member's own object it names.
MEMBER_ARG_KINDS = {"family_id": "family_member", "token_id": "api_token", "news_id": "member_news"}

# Blueprints whose every endpoint is a staff page (Flask-Admin model views are found through the admin instead).
STAFF_BLUEPRINTS = {"registry", "imports", "cards", "consent", "service", "workflow", "auth", "admin", "aid",
                     "cabinet_staff", "news", "stats"}

# A URL argument → the kind of object it names. Keys are "argument" or "endpoint-pattern:argument" where one name
# means different objects in different blueprints (the pattern wins).
ARG_KINDS = {
    "org_id": "org",
    "member_id": "member",
    "card_id": "card",
    "user_id": "account",
    "record_id": "consent_record",
    "batch_id": "production_batch",
    "export_id": "bonus_export",
    "msg_id": "outbox_message",
    "petition_id": "petition",
    "attachment_id": "petition_attachment",
    "regulation_id": "aid_regulation",
    "cards.*:req_id": "card_request",
    "registry.resolve_correction:req_id": "correction",
    "consent.*:job_id": "batch_print",
    "imports.*:job_id": "import_job",
    "news_id": "news_item",
    "image_id": "news_image",
    "mailing_id": "mailing",
    "snapshot_id": "stat_snapshot",
}

# URL arguments that are words, not objects: every word the endpoint knows is tried.
WORDS = {
    "registry.member_event:action": ("transfer", "leave", "exclude", "readmit"),
    "cards.card_action:action": tuple(CARD.transitions),
    "cards.request_action:action": tuple(CARD_REQUEST.transitions),
    "auth.account_action:action": ("reset", "disable", "enable"),
    "cards.manifest:fmt": ("xlsx", "csv"),
    "consent.export_file:fmt": ("csv", "json"),
    "workflow.*:name": tuple(WORKFLOWS),
    "service.run_job:name": ("bonus_export", "card_processing"),
    "*.export:export_type": ("csv",),
    "aid.petition_action:action": tuple(AID_PETITION.transitions),
    "news.act:action": tuple(NEWS_ITEM.transitions),
    "stats.*:fmt": ("xlsx", "pdf"),
    "stats.chart:name": ("composition", "levels", "trend"),
}

# Object ids that travel in a form or a query string (ticked rows, a chosen member): (where, field, kind) by endpoint.
# With the URL's own objects inside the scope, an outside id here must answer as a missing one and change nothing.
FORM_IDS = {
    "cards.add_to_request": [("form", "member_ids", "member")],
    "cards.request_add": [("form", "member_ids", "member")],
    "consent.batch_start": [("form", "member_ids", "member")],
    "consent.bulk_sign": [("form", "member_ids", "member")],
    "cards.request_hand_over": [("form", "card_ids", "card")],
    "auth.new_account": [("form", "org_id", "org")],
    "aid.petition_new": [("query", "member_id", "member"), ("form", "member_id", "member")],
    "aid.quote": [("form", "member_id", "member")],
    "aid.queue_decide": [("form", "petition_ids", "petition")],
    "aid.payments_mark": [("form", "petition_ids", "petition")],
}
# What else those forms need so that the id is what decides the answer.
FORM_EXTRAS = {
    "auth.new_account": {"role": "primary_chair", "login": "matrix-new", "full_name": "Матрицына Мария"},
    "aid.queue_decide": {"do": "approve", "decision_date": date.today().isoformat(), "decision_number": "1"},
    "aid.payments_mark": {"paid_on": date.today().isoformat(), "payment_reference": "п/п 1"},
    "consent.bulk_sign": {"on_date": date.today().isoformat(), "consent152": "y"},
    "cards.request_hand_over": {"on_date": date.today().isoformat()},
}

# Flask-Admin model views: the kind of object behind each model.
ADMIN_MODEL_KINDS = {
    Organisation: "org",
    User: "account",
    Member: "member",
    CorrectionRequest: "correction",
    AuditEntry: "audit_entry",
}

# Flask-Admin view methods: (method, where the id goes, its parameter name); None = no object (a list or a form).
ADMIN_METHODS = {
    "index_view": [("GET", None, None)],
    "create_view": [("GET", None, None)],
    "ajax_lookup": [("GET", None, None)],
    "export": [("GET", None, None)],
    "details_view": [("GET", "query", "id")],
    "edit_view": [("GET", "query", "id"), ("POST", "query", "id")],
    "delete_view": [("POST", "form", "id")],
    "ajax_update": [("POST", "form", "list_form_pk")],
    "action_view": [("POST", "form", "rowid")],
}

# Endpoints that answer 404 even to a central administrator on an object inside the scope, and why.
CLOSED_TO_ALL = {
    "*.ajax_update": "inline editing is off in every back-office view (column_editable_list is empty)",
    "aid.attachment_add": "documents come from the filing organisation and the regional office, not the centre",
}

# The table each kind lives in, and the object_type its denial is audited under.
KIND_MODELS = {
    "org": Organisation,
    "member": Member,
    "card": Card,
    "card_request": CardRequest,
    "consent_record": ConsentRecord,
    "batch_print": BatchPrint,
    "import_job": ImportJob,
    "correction": CorrectionRequest,
    "account": User,
    "audit_entry": AuditEntry,
    "production_batch": ProductionBatch,
    "bonus_export": BonusExport,
    "outbox_message": OutboxMessage,
    "petition": AidPetition,
    "petition_attachment": PetitionAttachment,
    "aid_regulation": AidRegulation,
    "news_item": NewsItem,
    "news_image": NewsImage,
    "mailing": Mailing,
    "stat_snapshot": StatSnapshot,
}

# Which organisations lie outside the scope of a user of each level, nearest first: a sibling under the same parent,
# the other region, and (organisation pages only) the organisation above the user's own. Roles are placed by
# policy.ROLES_FOR_LEVEL, so a new role is in the matrix as soon as it may be given to an account.
OUTSIDE = {
    OrgLevel.PRIMARY: ("a2", "b", "up"),
    OrgLevel.TERRITORIAL: ("a3", "b", "up"),
    OrgLevel.REGIONAL: ("b", "up"),
    OrgLevel.CENTRAL: (),
}


# ---- the objects ------------------------------------------------------------------------------------------------


@dataclass
class Context:
    """Objects of one organisation by kind, and the texts that identify them (which must never leak)."""

    name: str
    objects: dict[str, object]
    secrets: list[str] = field(default_factory=list)

    def has(self, kinds) -> bool:
        return all(k in self.objects for k in kinds)

    def id(self, kind: str) -> str:
        return str(self.objects[kind].id)


_card_seq = {"n": 90_000}


def furnish(org: Organisation, member: Member, tag: str) -> Context:
    """One object of every organisation-bound kind in a primary organisation."""
    _card_seq["n"] += 1
    number = card_ops.card_number(_card_seq["n"])
    card = Card(number=number, member_id=member.id, state=CardState.SHIPPED)
    member.card_number, member.card_status = number, CardStatus.SHIPPED
    member.consent_status = ConsentStatus.SIGNED
    req = CardRequest(org_id=org.id, state=RequestState.DRAFT)
    db.session.add_all([card, req])
    db.session.flush()
    db.session.add(CardRequestItem(request_id=req.id, member_id=member.id))
    scan = f"scan-{tag}.pdf"
    store_bytes(SCAN_AREA, scan, b"%PDF-1.4\n% scan of " + tag.encode() + b"\n%%EOF\n")
    record = ConsentRecord(member_id=member.id, kind="signed", on_date=date(2026, 1, 15), scan_name=scan,
                           scan_type="pdf")
    printed = f"batch-{tag}.pdf"
    store_bytes(BATCH_AREA, printed, b"%PDF-1.4\n% batch of " + tag.encode() + b"\n%%EOF\n")
    batch = BatchPrint(org_id=org.id, member_ids=json.dumps([member.id]), total=1, done=1, status="done",
                       stored_name=printed)
    job = ImportJob(org_id=org.id, filename=f"spisok-{tag}.csv", stored_name=f"missing-{tag}.csv", file_kind="csv",
                    status=ImportStatus.UPLOADED, mapping="{}")
    correction = CorrectionRequest(org_id=org.id, to_org_id=org.parent_id, text=f"Исправить наименование ({tag}-корр)")
    db.session.add_all([record, batch, job, correction])
    account = create_user(org, Role.PRIMARY_CHAIR, f"chair-{tag}")
    account.full_name = f"Председателева {tag.upper()}-Учётная"
    entry = audit.record("test_note", object_type="test", org_id=org.id, marker=f"audit-marker-{tag}")
    db.session.commit()
    petition = aid_ops.file_petition(account, member, treatment(), date.today() - timedelta(days=3), "7",
                                     aid_ops.with_account_key(f"40817810{member.id:012d}", BIK), BIK, "ПАО Сбербанк")
    store_bytes(aid_ops.ATTACHMENT_AREA, f"proof-{tag}.pdf", PDF)
    attachment = PetitionAttachment(petition_id=petition.id, kind=AttachmentKind.PROOF, stored_name=f"proof-{tag}.pdf",
                                    file_type="pdf", original_name="talon.pdf", size=len(PDF))
    db.session.add(attachment)
    # A news item written for this organisation only, with its image, and a mailing to its members.
    news = NewsItem(org_id=org.id, title=f"Новость {tag.upper()}-Секретная", lead="", body="<p>Текст</p>",
                    body_text="Текст", category="union", state=NewsState.PUBLISHED, published_at=datetime.now(UTC),
                    audience_all=False, audience_orgs=[org])
    store_bytes(IMAGE_AREA, f"news-{tag}.jpeg", b"\xff\xd8\xff not really a picture")
    image = NewsImage(item=news, stored_name=f"news-{tag}.jpeg", mime="image/jpeg", width=1, height=1)
    mailing = Mailing(plan=f"matrix:{tag}", category="union", subject=f"Рассылка {tag.upper()}-Секретная",
                      body="Текст", period_end=datetime.now(UTC), segment_org_id=org.id)
    db.session.add_all([news, image, mailing])
    db.session.commit()
    snapshot = stats_ops.freeze(account, org, date(2026, 1, 1), f"Отчёт {tag}")
    db.session.commit()
    objects = {"org": org, "member": member, "card": card, "card_request": req, "consent_record": record,
               "batch_print": batch, "import_job": job, "correction": correction, "account": account,
               "audit_entry": entry, "petition": petition, "petition_attachment": attachment,
               "news_item": news, "news_image": image, "mailing": mailing,
               "stat_snapshot": snapshot}
    return Context(tag, objects, [member.last_name, number, account.full_name, correction.text, news.title,
                                  mailing.subject])


def central_objects() -> Context:
    """Objects that belong to no organisation: production batches, transfers to PROFCARDS, outgoing mail."""
    store_bytes(card_ops.MANIFEST_AREA, "matrix.xlsx", b"PK\x03\x04 not really a workbook")
    store_bytes(card_ops.MANIFEST_AREA, "matrix.csv", "Номер;ФИО\n".encode("utf-8-sig"))
    store_bytes(consent_ops.EXPORT_AREA, "matrix-export.csv", b"id;name\n")
    store_bytes(consent_ops.EXPORT_AREA, "matrix-export.json", b"[]")
    batch = ProductionBatch(cutoff=datetime(2026, 1, 15, tzinfo=UTC), manifest_xlsx="matrix.xlsx",
                            manifest_csv="matrix.csv")
    export = BonusExport(csv_name="matrix-export.csv", json_name="matrix-export.json")
    message = OutboxMessage(message_id="<matrix@portal>", to_addr="sekretnaya-pochta@example.ru",
                            subject="Письмо матрицы", body="Текст письма: Секретова Сабина")
    db.session.add_all([batch, export, message])
    db.session.commit()
    return Context("central", {"production_batch": batch, "bonus_export": export, "outbox_message": message},
                   ["sekretnaya-pochta@example.ru", "Секретова Сабина"])


@pytest.fixture
def app(make_app):
    """The test app, but an exception answers 500 like in production, so every problem is listed at once."""
    a = make_app(PROPAGATE_EXCEPTIONS=False)
    with a.app_context():
        yield a
        db.session.remove()


def role_users(world) -> dict[Role, User]:
    """A user of every role, in region A at the level policy.ROLES_FOR_LEVEL gives the role."""
    orgs = {OrgLevel.CENTRAL: world.central, OrgLevel.REGIONAL: world.region_a,
            OrgLevel.TERRITORIAL: world.terr_a, OrgLevel.PRIMARY: world.school_a}
    users = {}
    for level, roles in policy.ROLES_FOR_LEVEL.items():
        for role in roles:
            # A role given at several levels (the news editor: regional and central) sits at the first, lowest one.
            if role not in users:
                users[role] = world.users.get(role.value) or create_user(orgs[level], role, f"m-{role.value}")
    return users


@pytest.fixture
def matrix(app, world):
    """The two-region world with every kind of object in four primaries, and a user of every role."""
    world.users.update({role.value: user for role, user in role_users(world).items()})
    regulations = {region.id: aid_ops.save_regulation(None, region, seed_regulation(), valid_from=date(2020, 1, 1))
                   for region in (world.region_a, world.region_b)}
    contexts = {
        "a": furnish(world.school_a, world.members["a"], "a"),
        "a2": furnish(world.school_a2, world.members["a2"], "a2"),
        "a3": furnish(world.school_a3, world.members["a3"], "a3"),
        "b": furnish(world.school_b, world.members["b"], "b"),
        "central": central_objects(),
    }
    # A regulation is the region's: visible to everyone in region A, so it is outside only from region B's side.
    contexts["a"].objects["aid_regulation"] = regulations[world.region_a.id]
    contexts["b"].objects["aid_regulation"] = regulations[world.region_b.id]
    return world, contexts


def contexts_for(role: Role, world, contexts) -> tuple[Context, list[Context]]:
    """The inside context of a role's user and the outside ones."""
    inside = Context("inside", dict(contexts["a"].objects), list(contexts["a"].secrets))
    central = contexts["central"]
    outside = []
    user_org = world.users[role.value].org
    for name in OUTSIDE[user_org.level]:
        if name == "up":
            outside.append(Context("up", {"org": user_org.parent}))
        else:
            outside.append(contexts[name])
    if user_org.level == OrgLevel.CENTRAL:
        inside.objects.update(central.objects)
    else:
        outside.append(central)
    return inside, outside


# ---- the endpoints ----------------------------------------------------------------------------------------------


class NotInMatrix(AssertionError):
    pass


@dataclass
class Target:
    """One request shape: an endpoint, a method, the kinds of its object arguments, and fixed words."""

    endpoint: str
    method: str
    kinds: dict[str, str]  # URL argument → kind
    words: dict[str, str]
    id_in: str | None = None  # admin: "query" or "form"
    id_param: str | None = None
    admin_kind: str | None = None
    extra_form: dict = field(default_factory=dict)
    form_ids: list[tuple[str, str, str]] = field(default_factory=list)  # (where, field, kind)
    permissions: tuple[str, ...] = ()  # what the endpoint declares it needs (policy.requires / the admin base)

    @property
    def label(self) -> str:
        words = ",".join(f"{k}={v}" for k, v in self.words.items())
        return f"{self.method} {self.endpoint}" + (f" [{words}]" if words else "")

    def all_kinds(self) -> list[str]:
        return list(self.kinds.values()) + ([self.admin_kind] if self.admin_kind else [])


def _lookup(table: dict, endpoint: str, arg: str):
    for key, value in table.items():
        pattern, _, name = key.rpartition(":")
        if name == arg and pattern and fnmatch.fnmatchcase(endpoint, pattern):
            return value
    return table.get(arg)


def _methods(rule) -> list[str]:
    methods = rule.methods - {"HEAD", "OPTIONS"}
    if "GET" in methods:
        return ["GET", "POST"] if "POST" in methods and rule.arguments else ["GET"]
    if methods == {"POST"}:
        return ["POST"]
    raise NotInMatrix(f"add {rule.endpoint} to the access matrix (methods {sorted(methods)} are not covered)")


def _admin_views(app) -> dict[str, object]:
    views = {}
    for admin in app.extensions.get("admin", []):
        for view in admin._views:
            if getattr(view, "model", None) is not None:
                views[view.endpoint] = view
    return views


def _word_combinations(endpoint: str, word_args: list[str]) -> list[dict[str, str]]:
    combos = [{}]
    for arg in word_args:
        values = _lookup(WORDS, endpoint, arg)
        combos = [{**c, arg: v} for c in combos for v in values]
    return combos


def declared_permissions(app, endpoint: str, admin_view=None) -> tuple[str, ...]:
    """The permissions an endpoint needs, as the app declares them: `policy.requires` on a view function, BACK_OFFICE
    plus the view's `required_permissions` in the back office. An undeclared endpoint is not in the matrix."""
    if admin_view is not None or endpoint == "admin.index":
        return (policy.Permission.BACK_OFFICE, *getattr(admin_view, "required_permissions", ()))
    declared = policy.required_permission(app.view_functions.get(endpoint))
    if declared is None:
        raise NotInMatrix(f"add {endpoint} to the access matrix (declare its permission with policy.requires)")
    return () if declared == policy.LOGGED_IN else (declared,)


def staff_targets(app) -> list[Target]:
    """Every staff request shape of the app, or NotInMatrix naming the first endpoint the tables do not cover."""
    admin_views = _admin_views(app)
    targets = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint, r.rule)):
        endpoint = rule.endpoint
        if endpoint in PUBLIC:
            continue
        blueprint, _, method_name = endpoint.rpartition(".")
        if blueprint in admin_views:
            view = admin_views[blueprint]
            kind = ADMIN_MODEL_KINDS.get(view.model)
            shapes = ADMIN_METHODS.get(method_name)
            if kind is None or shapes is None:
                raise NotInMatrix(f"add {endpoint} to the access matrix (admin model {view.model.__name__}, "
                                  f"method {method_name})")
            words = _word_combinations(endpoint, sorted(rule.arguments))
            for method, id_in, id_param in shapes:
                extra = {}
                if method_name == "action_view":
                    extra = {"action": next(iter(view._actions_data), "")}
                for w in words:
                    targets.append(Target(endpoint, method, {}, w, id_in, id_param, kind if id_in else None, extra,
                                          permissions=declared_permissions(app, endpoint, view)))
            continue
        if blueprint in MEMBER_BLUEPRINTS:
            continue  # member_targets
        if blueprint not in STAFF_BLUEPRINTS:
            raise NotInMatrix(f"add {endpoint} to the access matrix (blueprint {blueprint or '-'} is neither "
                              f"public nor staff)")
        kinds, word_args = {}, []
        for arg in re.findall(r"<(?:[^:<>]+:)?([^<>]+)>", rule.rule):  # in URL order: the first is the container
            kind = _lookup(ARG_KINDS, endpoint, arg)
            if kind is not None:
                if kind not in KIND_MODELS:
                    raise NotInMatrix(f"add {endpoint} to the access matrix (kind {kind} has no factory)")
                kinds[arg] = kind
            elif _lookup(WORDS, endpoint, arg) is not None:
                word_args.append(arg)
            else:
                raise NotInMatrix(f"add {endpoint} to the access matrix (URL argument <{arg}> is unknown)")
        permissions = declared_permissions(app, endpoint)
        for method in _methods(rule):
            form_ids = [f for f in FORM_IDS.get(endpoint, []) if (f[0] == "query") == (method == "GET")]
            for _, _, kind in form_ids:
                if kind not in KIND_MODELS:
                    raise NotInMatrix(f"add {endpoint} to the access matrix (kind {kind} has no factory)")
            for w in _word_combinations(endpoint, word_args):
                targets.append(Target(endpoint, method, kinds, w, extra_form=FORM_EXTRAS.get(endpoint, {}),
                                      form_ids=form_ids, permissions=permissions))
    return targets


def member_targets(app) -> list[Target]:
    """Every member-side request shape (cabinet pages and API), or NotInMatrix for an argument nobody described."""
    targets = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint, r.rule)):
        blueprint = rule.endpoint.rpartition(".")[0]
        if blueprint not in MEMBER_BLUEPRINTS or rule.endpoint in PUBLIC:
            continue
        kinds = {}
        for arg in rule.arguments:
            if arg not in MEMBER_ARG_KINDS:
                raise NotInMatrix(f"add {rule.endpoint} to the access matrix (member URL argument <{arg}>)")
            kinds[arg] = MEMBER_ARG_KINDS[arg]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            targets.append(Target(rule.endpoint, method, kinds, {}))
    return targets


# ---- making requests --------------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    location: str
    content_type: str
    body: bytes
    text: str
    attachment: bool = False

    def same_as(self, other: Answer) -> bool:
        return (self.status, self.location, self.content_type, self.body) == (
            other.status, other.location, other.content_type, other.body)

    def brief(self) -> str:
        title = re.search(r"<title>(.*?)</title>", self.text, re.S)
        shown = title.group(1).strip() if title else self.text[:120]
        return f"{self.status} {self.location} {shown!r} ({len(self.body)} bytes)"


def call(client, app, target: Target, ids: dict[str, str], admin_id: str | None = None,
         carried: dict[tuple[str, str], str] | None = None) -> Answer:
    """Make the request with object ids by URL argument (and the admin id), an empty form for POSTs.

    Messages flashed before a redirect are dropped: they would show on whichever page comes next.
    """
    values = {**target.words, **ids}
    path = app.url_map.bind("localhost").build(target.endpoint, values, method=target.method)
    query, form = {}, dict(target.extra_form)
    if target.id_in == "query":
        query[target.id_param] = admin_id
    elif target.id_in == "form":
        form[target.id_param] = admin_id
    for (where, name), value in (carried or {}).items():
        (query if where == "query" else form)[name] = value
    if target.method == "GET":
        r = client.get(path, query_string=query)
    else:
        r = client.open(path, method=target.method, query_string=query, data=form)
    if 300 <= r.status_code < 400:
        with client.session_transaction() as session:
            session.pop("_flashes", None)
    raw = r.get_data()
    text = raw.decode("utf-8", errors="replace")
    if r.is_json:  # JSON escapes Cyrillic: search the decoded text for names
        text = json.dumps(r.get_json(silent=True), ensure_ascii=False)
    body = raw
    if r.mimetype.startswith("text/"):
        # Pages may echo their own address (a link back to it), which holds the ids asked for.
        body = normalised(r)
        for echo in _echoes(path, query):
            body = body.replace(echo.encode(), b"{THIS-PAGE}")
    return Answer(r.status_code, r.headers.get("Location", ""), r.headers.get("Content-Type", ""), body, text,
                  r.headers.get("Content-Disposition", "").startswith("attachment"))


def _echoes(path: str, query: dict) -> list[str]:
    """The ways a page can spell its own address: raw, URL-encoded, HTML-escaped; longest first."""
    here = path + ("?" + urlencode(query) if query else "")
    spellings = {here}
    for safe in ("", "/", "!$'()*,/:;?@"):  # the last is what Werkzeug leaves unquoted in query values
        spellings |= {quote(here, safe=safe), quote_plus(here, safe=safe)}
    spellings |= {html.escape(x) for x in spellings}
    return sorted(spellings, key=len, reverse=True)


def ids_from(target: Target, ctx: Context) -> tuple[dict[str, str], str | None]:
    ids = {arg: ctx.id(kind) for arg, kind in target.kinds.items()}
    return ids, (ctx.id(target.admin_kind) if target.admin_kind else None)


def missing_ids(target: Target, missing: str) -> tuple[dict[str, str], str | None]:
    return {arg: missing for arg in target.kinds}, (missing if target.admin_kind else None)


def snapshot(contexts: list[Context]) -> dict:
    """Every column of every outside object, and how many rows of each table refer to their organisations and
    members (a foreign POST must neither change a row nor add one). Two handfuls of queries: it runs often."""
    db.session.expire_all()
    rows = {}
    by_model: dict[type, list[tuple[str, int]]] = {}
    for ctx in contexts:
        for kind, obj in ctx.objects.items():
            by_model.setdefault(KIND_MODELS[kind], []).append((f"{ctx.name}:{kind}", obj.id))
    for model, wanted in by_model.items():
        columns = model.__mapper__.column_attrs
        found = {r.id: r for r in db.session.execute(
            select(*[c.expression for c in columns]).where(model.id.in_([i for _, i in wanted])))}
        for key, obj_id in wanted:
            rows[key] = tuple(found[obj_id]) if obj_id in found else None
    org_ids = [ctx.objects["org"].id for ctx in contexts if "org" in ctx.objects]
    member_ids = [ctx.objects["member"].id for ctx in contexts if "member" in ctx.objects]
    counts = []
    for table in db.metadata.sorted_tables:
        if table.name == "audit_log":
            continue
        for column, ids in (("org_id", org_ids), ("to_org_id", org_ids), ("member_id", member_ids)):
            if column in table.c and ids:
                counts.append(select(func.count()).select_from(table).where(table.c[column].in_(ids))
                              .scalar_subquery().label(f"{table.name}__{column}"))
    if counts:
        rows.update(db.session.execute(select(*counts)).one()._asdict())
    db.session.rollback()
    return rows


def denials_since(last_id: int) -> list[AuditEntry]:
    db.session.expire_all()
    rows = db.session.scalars(select(AuditEntry).where(AuditEntry.id > last_id, AuditEntry.outcome == "denied")).all()
    db.session.rollback()
    return rows


def entries_since(last_id: int) -> list[AuditEntry]:
    db.session.expire_all()
    rows = db.session.scalars(select(AuditEntry).where(AuditEntry.id > last_id)).all()
    db.session.rollback()
    return rows


def mentions_member(entry: AuditEntry, member_id: int) -> bool:
    """An entry about the member: the member as its object, or among the ids it lists, or named in its details."""
    if entry.object_type == "members" and entry.object_id == member_id:
        return True
    try:
        details = json.loads(entry.details or "{}")
    except ValueError:
        return False
    return member_id in (details.get("ids") or []) or details.get("member_id") == member_id


def last_audit_id() -> int:
    value = db.session.scalar(select(func.max(AuditEntry.id))) or 0
    db.session.rollback()
    return value


def names_object(entry: AuditEntry, kind: str, obj_id: int) -> bool:
    if entry.object_type != KIND_MODELS[kind].__tablename__:
        return False
    if entry.object_id == obj_id:
        return True
    try:
        return obj_id in (json.loads(entry.details or "{}").get("ids") or [])
    except ValueError:
        return False


def unchanged(target: Target, what: str, watched: list[Context], before: dict, problems: list[str]) -> None:
    """Compare the outside rows with the last snapshot; after a change, the new state becomes the reference, so
    only the request that made the change is reported."""
    now = snapshot(watched)
    if now != before:
        changed = sorted(str(k) for k in now if now[k] != before.get(k))
        problems.append(f"{target.label}: {what} changed the database ({', '.join(changed)})")
        before.clear()
        before.update(now)


def check_target(client, app, target: Target, inside: Context, outside: list[Context], missing: tuple[str, ...],
                 watched: list[Context], before: dict, problems: list[str], reached: set[str],
                 held: frozenset[str] = frozenset(policy.Permission.TITLES)) -> None:
    """All the checks of one request shape for one logged-in user; problems are collected, not raised.

    `held` is the role's permissions (policy.ROLE_PERMISSIONS): an endpoint declaring one the role lacks must
    answer 404 even on an object inside the role's scope (permission × scope).
    """
    kinds = target.all_kinds()
    inside_answer = None
    if inside.has(kinds):
        ids, admin_id = ids_from(target, inside)
        mark = last_audit_id()
        inside_answer = call(client, app, target, ids, admin_id)
        if inside_answer.status >= 500:
            problems.append(f"{target.label}: inside object → {inside_answer.brief()}")
        lacking = [p for p in target.permissions if p not in held]
        if lacking and inside_answer.status != 404:
            problems.append(f"{target.label}: answers {inside_answer.brief()} to a role without {lacking[0]} "
                            f"(expected 404)")
        if inside_answer.status != 404:
            reached.add(target.label)
        # A page that shows a member's name is a read of their personal data, and every such read is audited.
        member = inside.objects.get("member")
        if (target.method == "GET" and member is not None and member.last_name in inside_answer.text
                and not any(mentions_member(e, member.id) for e in entries_since(mark))):
            problems.append(f"{target.label}: shows {member.last_name!r} but no audit entry names the member")
        # A file handed out (a PDF, a spreadsheet, a scan) can't be searched for names: any download is audited.
        if (target.method == "GET" and inside_answer.status == 200 and inside_answer.attachment
                and not entries_since(mark)):
            problems.append(f"{target.label}: a file download is not audited")
    # Ids in the form or the query string: with the URL's objects inside, an outside id answers as a missing one.
    if target.form_ids and inside.has(target.kinds.values()):
        ids, _ = ids_from(target, inside)
        gone = call(client, app, target, ids, carried={(w, f): missing[0] for w, f, _ in target.form_ids})
        for ctx in outside:
            if not ctx.has([k for _, _, k in target.form_ids]):
                continue
            answer = call(client, app, target, ids, carried={(w, f): ctx.id(k) for w, f, k in target.form_ids})
            if not answer.same_as(gone):
                problems.append(f"{target.label}: a {ctx.name} id in the form answers {answer.brief()} "
                                f"but a missing one {gone.brief()}")
            problems += [f"{target.label}: a {ctx.name} id in the form shows {s!r}" for s in ctx.secrets
                         if s in answer.text]
        unchanged(target, "an outside id in the form", watched, before, problems)
    if not kinds:
        # A list or a form without an object: nothing of another organisation may show, even when searched for.
        answers = [inside_answer]
        if target.method == "GET":
            # A prefix of the surname: search pages echo the query, and the full name must not come back.
            answers += [call(client, app, target, {}, carried={("query", "q"): ctx.secrets[0][:4],
                                                               ("query", "search"): ctx.secrets[0][:4]})
                        for ctx in outside if ctx.secrets]
        for answer in answers:
            if answer.status >= 500:
                problems.append(f"{target.label}: → {answer.brief()}")
            for ctx in outside:
                problems += [f"{target.label}: shows {s!r} of {ctx.name}" for s in ctx.secrets if s in answer.text]
        return
    baseline = None
    for value in missing:
        ids, admin_id = missing_ids(target, value)
        answer = call(client, app, target, ids, admin_id)
        if answer.status >= 500 or answer.status in (200, 201):
            problems.append(f"{target.label}: missing id {value} → {answer.brief()}")
        if baseline is None:
            baseline = answer
        elif not answer.same_as(baseline):
            problems.append(f"{target.label}: missing id {value} answers {answer.brief()} "
                            f"but missing id {missing[0]} {baseline.brief()}")
    for ctx in outside:
        if not ctx.has(kinds):
            continue
        mark = last_audit_id()
        ids, admin_id = ids_from(target, ctx)
        answer = call(client, app, target, ids, admin_id)
        if not answer.same_as(baseline):
            problems.append(f"{target.label}: {ctx.name} object answers {answer.brief()} "
                            f"but a missing one {baseline.brief()}")
        for secret in ctx.secrets:
            if secret in answer.text:
                problems.append(f"{target.label}: {ctx.name} object shows {secret!r}")
        allowed_inside = inside_answer is not None and inside_answer.status != 404
        if answer.status == 404 and allowed_inside:
            foreign = [(k, ctx.objects[k].id) for k in kinds]
            if not any(names_object(e, k, i) for e in denials_since(mark) for k, i in foreign):
                problems.append(f"{target.label}: the denial on the {ctx.name} object is not audited")
    if target.method == "POST":
        unchanged(target, "a POST on an outside object", watched, before, problems)
    # Two objects in one URL: the first inside, a later one outside answers as if the later one were missing.
    args = list(target.kinds)
    for j in range(1, len(args)):
        for ctx in outside:
            if not ctx.has([target.kinds[args[j]]]) or not inside.has(kinds):
                continue
            ids, _ = ids_from(target, inside)
            gone = {**ids, args[j]: missing[0]}
            kind = target.kinds[args[j]]
            mixed = {**ids, args[j]: ctx.id(kind)}
            b = call(client, app, target, gone)
            mark = last_audit_id()
            a = call(client, app, target, mixed)
            if not a.same_as(b):
                problems.append(f"{target.label}: <{args[j]}> of {ctx.name} answers {a.brief()} "
                                f"but a missing one {b.brief()}")
            if a.status == 404 and inside_answer is not None and inside_answer.status != 404 and not any(
                    names_object(e, kind, ctx.objects[kind].id) for e in denials_since(mark)):
                problems.append(f"{target.label}: the denial of <{args[j]}> of {ctx.name} is not audited")


# ---- the tests --------------------------------------------------------------------------------------------------


def test_every_endpoint_is_in_the_matrix(app):
    """A new endpoint, argument or admin view the tables do not know fails here with what to add."""
    try:
        targets = staff_targets(app)
    except NotInMatrix as e:
        pytest.fail(str(e))
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    covered = {t.endpoint for t in targets} | {t.endpoint for t in member_targets(app)} | (set(PUBLIC) & endpoints)
    assert covered == endpoints
    assert set(FORM_IDS) <= covered and set(FORM_EXTRAS) <= set(FORM_IDS), "FORM_IDS names an endpoint that is gone"
    assert len(targets) > 100


def test_an_endpoint_without_a_declared_permission_fails_the_matrix(make_app):
    """Permission × scope for every endpoint: a view of a staff blueprint that declares no permission is refused."""
    from flask import Blueprint

    a = make_app()
    bp = Blueprint("registry_undeclared", __name__)
    bp.add_url_rule("/orgs/<org_id>/undeclared", "thing", lambda **kw: "")
    a.register_blueprint(bp)
    STAFF_BLUEPRINTS.add("registry_undeclared")
    try:
        with pytest.raises(NotInMatrix, match=r"registry_undeclared\.thing.*declare its permission"):
            staff_targets(a)
    finally:
        STAFF_BLUEPRINTS.discard("registry_undeclared")


def test_registry_pages_need_the_registry_permission(app):
    """The presidium and the accountant read petitions, not the registry (issue 10, item 4)."""
    targets = {t.endpoint: t for t in staff_targets(app)}
    for endpoint in ("registry.org", "registry.tree", "cards.requests_list", "registry.members"):
        assert policy.Permission.VIEW_REGISTRY in targets[endpoint].permissions
    for role in (Role.PRESIDIUM_MEMBER, Role.ACCOUNTANT):
        assert policy.Permission.VIEW_REGISTRY not in policy.ROLE_PERMISSIONS[role]


def test_an_unknown_endpoint_or_argument_fails_the_matrix(make_app):
    """The guard itself: an endpoint with an argument nobody described, and a blueprint nobody classified."""
    from flask import Blueprint

    for route, blueprint_name in (("/orgs/<org_id>/widgets/<widget_id>", "registry_extra"),
                                  ("/gadgets/<gadget_id>", "gadgets")):
        a = make_app()
        bp = Blueprint(blueprint_name, __name__)
        bp.add_url_rule(route, "thing", lambda **kw: "")
        a.register_blueprint(bp)
        if blueprint_name == "registry_extra":
            STAFF_BLUEPRINTS.add(blueprint_name)
        try:
            with pytest.raises(NotInMatrix, match=rf"add {blueprint_name}\.thing to the access matrix"):
                staff_targets(a)
        finally:
            STAFF_BLUEPRINTS.discard(blueprint_name)


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_access_matrix(app, client, matrix, role):
    world, contexts = matrix
    if role.value not in world.users:
        pytest.fail(f"add {role.value} to policy.ROLES_FOR_LEVEL so the access matrix knows where its users sit")
    try:
        targets = staff_targets(app)
    except NotInMatrix as e:
        pytest.fail(str(e))
    inside, outside = contexts_for(role, world, contexts)
    login(client, world.users[role.value], PASSWORD)
    watched = [c for c in outside if c.name != "up"]
    # Odd ids are probed where every permission check passes and the lookup is really made.
    central = world.users[role.value].org.level == OrgLevel.CENTRAL
    missing = NONEXISTENT_IDS if central else NONEXISTENT_IDS[:1]
    problems, reached = [], set()
    before = snapshot(watched)
    held = policy.ROLE_PERMISSIONS.get(role, frozenset())
    for target in targets:
        check_target(client, app, target, inside, outside, missing, watched, before, problems, reached, held)
    assert not problems, f"{len(problems)} problems for {role.value}:\n" + "\n".join(problems)
    if central:
        # Central administrators may do everything to everything: a 404 on an inside object means the matrix
        # filled the URL with the wrong kind of object, and its outside checks would prove nothing.
        with_objects = {t.label for t in targets if t.all_kinds()
                        and not any(fnmatch.fnmatchcase(t.endpoint, p) for p in CLOSED_TO_ALL)}
        assert not with_objects - reached, "inside objects answer 404 to a central administrator:\n" + "\n".join(
            sorted(with_objects - reached))
    elif policy.has_permission(world.users[role.value], policy.Permission.VIEW_REGISTRY):
        assert {"GET registry.member", "GET registry.org", "GET cards.request_page"} <= reached


def test_anonymous_users_get_the_login_page_never_data(app, client, matrix):
    world, contexts = matrix
    inside = Context("inside", {**contexts["a"].objects, **contexts["central"].objects},
                     contexts["a"].secrets + contexts["central"].secrets)
    problems = []
    for target in staff_targets(app):
        ids, admin_id = ids_from(target, inside)
        answer = call(client, app, target, ids, admin_id)
        to_login = answer.status == 302 and answer.location.split("?")[0].endswith("/login")
        if not (to_login or answer.status in (401, 404)):
            problems.append(f"{target.label}: anonymous → {answer.brief()}")
        problems += [f"{target.label}: anonymous sees {s!r}" for s in inside.secrets if s in answer.text]
    assert not problems, "\n".join(problems)


# ---- the member role and the API ----------------------------------------------------------------------------------

MEMBER_MATRIX_PASSWORD = "member-matrix-pass"


def _member_account(member: Member, tag: str):
    """An open, confirmed member account with a family row and an API token of its own (commits)."""
    from portal.cabinet import operations as cab_ops
    from portal.cabinet.models import FamilyMember, MemberAccount, MemberToken

    account = MemberAccount(member_id=member.id, email=f"{tag}@example.org", phone="", session_version=1,
                            rules_accepted_at=datetime.now(UTC), email_confirmed_at=datetime.now(UTC),
                            verify_token=MemberAccount.new_verify_token(), closed_reason="")
    account.set_password(MEMBER_MATRIX_PASSWORD)
    db.session.add(account)
    db.session.flush()
    family = FamilyMember(account_id=account.id, full_name=f"Семейная {tag.upper()}-Родственница", relation="child")
    db.session.add(family)
    cab_ops.issue_api_token(account, label=f"Телефон {tag}")
    # A news item meant for the member's own organisation only: another member's answers like a missing one.
    news = NewsItem(org_id=member.org_id, title=f"Новость {tag.upper()}-Только-своим", lead="", body="<p>Текст</p>",
                    body_text="Текст", category="union", state=NewsState.PUBLISHED, published_at=datetime.now(UTC),
                    audience_all=False, audience_orgs=[db.session.get(Organisation, member.org_id)])
    db.session.add(news)
    db.session.commit()
    token = db.session.scalar(select(MemberToken).where(MemberToken.account_id == account.id))
    return account, Context(tag, {"family_member": family, "api_token": token, "member_news": news},
                            [family.full_name, member.last_name, member.card_number, news.title])


def _member_login(client, member: Member):
    r = client.post("/cabinet/login", data={"card_number": member.card_number, "password": MEMBER_MATRIX_PASSWORD})
    assert r.status_code == 302 and r.location.endswith("/cabinet/"), r.get_data(as_text=True)[:300]


def test_a_member_session_gets_404_on_every_staff_endpoint(app, client, matrix):
    """A logged-in member is not staff: every staff page answers 404 (never a login redirect, never data)."""
    world, contexts = matrix
    _member_account(world.members["a"], "ma")
    _member_login(client, world.members["a"])
    inside = Context("inside", {**contexts["a"].objects, **contexts["central"].objects},
                     contexts["a"].secrets + contexts["central"].secrets)
    before = snapshot([contexts["a"]])
    problems = []
    for target in staff_targets(app):
        ids, admin_id = ids_from(target, inside)
        answer = call(client, app, target, ids, admin_id)
        if answer.status != 404:
            problems.append(f"{target.label}: member → {answer.brief()}")
    unchanged(Target("member", "POST", {}, {}), "member session", [contexts["a"]], before, problems)
    assert client.get("/cabinet/").status_code == 200, "the member was logged out by a staff page"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", ["central_admin", "primary_chair"])
def test_staff_sessions_never_open_member_pages(app, client, matrix, role):
    """A staff session opens no cabinet page (404) and is no API credential (401)."""
    world, _ = matrix
    member = world.members["a"]
    _, own = _member_account(member, "ma")
    login(client, world.users[role], PASSWORD)
    problems = []
    for target in member_targets(app):
        ids = {arg: own.id(kind) for arg, kind in target.kinds.items()}
        answer = call(client, app, target, ids)
        expected = 401 if target.endpoint.startswith("api.") else 404
        if answer.status != expected:
            problems.append(f"{target.label}: {role} → {answer.brief()}")
        problems += [f"{target.label}: {role} sees {s!r}" for s in own.secrets if s and s in answer.text]
    for path in ("/cabinet/login", "/cabinet/register"):
        if client.get(path).status_code != 404:
            problems.append(f"GET {path}: {role} is not refused")
    assert not problems, "\n".join(problems)


def test_another_members_objects_answer_like_missing_ones(app, client, matrix):
    """Member A asking for member B's family row or API token gets what a missing id gets; nothing changes."""
    world, _ = matrix
    _, own = _member_account(world.members["a"], "ma")
    _, other = _member_account(world.members["a2"], "mb")
    _member_login(client, world.members["a"])
    problems, reached = [], set()
    for target in member_targets(app):
        if not target.kinds or target.endpoint.startswith("api."):
            continue
        foreign = call(client, app, target, {a: other.id(k) for a, k in target.kinds.items()})
        for missing in NONEXISTENT_IDS[:1]:
            absent = call(client, app, target, {a: missing for a in target.kinds})
            if not foreign.same_as(absent):
                problems.append(f"{target.label}: another member's → {foreign.brief()}, missing → {absent.brief()}")
        problems += [f"{target.label}: sees {s!r}" for s in other.secrets if s and s in foreign.text]
        reached.add(target.endpoint)
    from portal.cabinet.models import FamilyMember, MemberToken

    db.session.expire_all()
    assert db.session.get(FamilyMember, other.objects["family_member"].id) is not None
    assert db.session.get(MemberToken, other.objects["api_token"].id).revoked_at is None
    assert {"cabinet.family_delete", "cabinet.token_revoke"} <= reached
    assert not problems, "\n".join(problems)


def test_anonymous_member_pages_go_to_the_member_login_and_the_api_says_401(app, client, matrix):
    world, _ = matrix
    _, own = _member_account(world.members["a"], "ma")
    problems = []
    for target in member_targets(app):
        answer = call(client, app, target, {a: own.id(k) for a, k in target.kinds.items()})
        if target.endpoint.startswith("api."):
            ok = answer.status == 401 and answer.content_type.startswith("application/json")
        else:
            ok = answer.status == 302 and "/cabinet/login" in answer.location
        if not ok:
            problems.append(f"{target.label}: anonymous → {answer.brief()}")
        problems += [f"{target.label}: anonymous sees {s!r}" for s in own.secrets if s and s in answer.text]
    assert not problems, "\n".join(problems)

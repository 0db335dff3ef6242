"""Demo data: the pilot's 18 regional organisations (seed 001), towns and districts, schools, kindergartens,
colleges and universities with staff counts, members with Russian names (Faker), and one account per role."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta

from faker import Faker
from sqlalchemy import select

from portal.auth.models import Role, User
from portal.bulk import allocate_ids, insert_rows
from portal.extensions import db
from portal.registry.models import (
    CardStatus,
    Category,
    ConsentStatus,
    DuesForm,
    Education,
    EventKind,
    Gender,
    InstitutionKind,
    Member,
    MemberEvent,
    MemberStatus,
    Organisation,
    OrgLevel,
    person_key,
)
from portal.text import fold

PILOT_REGIONS = [
    ("Московская городская", "Москва"), ("Липецкая областная", "Липецк"), ("Орловская областная", "Орёл"),
    ("Башкирская республиканская", "Уфа"), ("Марийская республиканская", "Йошкар-Ола"),
    ("Нижегородская областная", "Нижний Новгород"), ("Пермская краевая", "Пермь"),
    ("Чувашская республиканская", "Чебоксары"), ("Калининградская областная", "Калининград"),
    ("Краснодарская краевая", "Краснодар"), ("Ставропольская краевая", "Ставрополь"),
    ("Чеченская республиканская", "Грозный"), ("Курганская областная", "Курган"), ("Тюменская областная", "Тюмень"),
    ("Алтайская краевая", "Барнаул"), ("Алтайская республиканская", "Горно-Алтайск"), ("Омская областная", "Омск"),
    ("Приморская краевая", "Владивосток"),
]
UNION = "Общероссийского Профсоюза образования"
DEMO_PASSWORD = "demo-profportal-2026"
POSITIONS_WORKING = ["учитель начальных классов", "учитель математики", "учитель русского языка и литературы",
                     "учитель физической культуры", "воспитатель", "педагог дополнительного образования",
                     "заместитель директора", "педагог-психолог", "учитель-логопед", "преподаватель",
                     "доцент", "младший воспитатель", "библиотекарь", "бухгалтер"]
DEMO_ACCOUNTS = [
    ("admin", Role.CENTRAL_ADMIN, "central"),
    ("region", Role.REGIONAL_CHAIR, "regional"),
    ("region-staff", Role.REGIONAL_STAFF, "regional"),
    ("territory", Role.TERRITORIAL_CHAIR, "territorial"),
    ("school", Role.PRIMARY_CHAIR, "primary"),
    ("presidium", Role.PRESIDIUM_MEMBER, "regional"),
    ("accountant", Role.ACCOUNTANT, "regional"),
    ("editor", Role.NEWS_EDITOR, "regional"),
    ("editor-cs", Role.NEWS_EDITOR, "central"),
]


def _org(parent, level, name, short, **kw) -> Organisation:
    org = Organisation(parent_id=parent.id if parent else None, level=level, name=name, short_name=short, path="", **kw)
    db.session.add(org)
    db.session.flush()
    org.path = f"{parent.path if parent else '/'}{org.id}/"
    return org


def build_tree(rng: random.Random, fake: Faker, regions: int = 18, territorials: int = 3, primaries: int = 6):
    """Central → regions → territorials → primaries; some primaries hang directly under a region."""
    central = _org(None, OrgLevel.CENTRAL, f"Центральный Совет {UNION}", "ЦС Профсоюза",
                   kind=InstitutionKind.OTHER, address="г. Москва")
    tree = {"central": central, "regional": [], "territorial": [], "primary": []}
    for rname, city in PILOT_REGIONS[:regions]:
        region = _org(central, OrgLevel.REGIONAL, f"{rname} организация {UNION}", f"{rname} организация",
                      kind=InstitutionKind.OTHER, address=f"г. {city}", staff_count=None)
        tree["regional"].append(region)
        parents = []
        for t in range(territorials):
            tname = city if t == 0 else fake.city_name()
            kind_word = "Городская" if t == 0 else "Районная"
            terr = _org(region, OrgLevel.TERRITORIAL, f"{kind_word} организация {UNION} (г. {tname})",
                        f"{kind_word} организация (г. {tname})", kind=InstitutionKind.OTHER, address=f"г. {tname}")
            tree["territorial"].append(terr)
            parents.append((terr, tname))
        parents.append((region, city))  # universities and colleges hang under the region itself
        for parent, town in parents:
            for _ in range(primaries if parent.level == OrgLevel.TERRITORIAL else 2):
                kind = (rng.choice([InstitutionKind.SCHOOL] * 3 + [InstitutionKind.KINDERGARTEN] * 2)
                        if parent.level == OrgLevel.TERRITORIAL else
                        rng.choice([InstitutionKind.COLLEGE, InstitutionKind.UNIVERSITY, InstitutionKind.STUDENTS]))
                n = rng.randint(1, 150)
                name, short = {
                    InstitutionKind.SCHOOL: (f"МБОУ «Средняя общеобразовательная школа № {n}» г. {town}", f"СОШ № {n}"),
                    InstitutionKind.KINDERGARTEN: (f"МБДОУ «Детский сад № {n}» г. {town}", f"Детский сад № {n}"),
                    InstitutionKind.COLLEGE: (f"ГАПОУ «Педагогический колледж № {n % 5 + 1}» г. {town}",
                                              f"Педколледж № {n % 5 + 1}"),
                    InstitutionKind.UNIVERSITY: (f"ФГБОУ ВО «Государственный педагогический университет» г. {town}",
                                                 "Педуниверситет (работники)"),
                    InstitutionKind.STUDENTS: (f"студентов педагогического университета г. {town}",
                                               "Студенческая ППО"),
                }[kind]
                staff = {InstitutionKind.SCHOOL: rng.randint(30, 120), InstitutionKind.KINDERGARTEN: rng.randint(15, 50),
                         InstitutionKind.COLLEGE: rng.randint(60, 200), InstitutionKind.UNIVERSITY: rng.randint(300, 900),
                         InstitutionKind.STUDENTS: None}[kind]
                students = rng.randint(2000, 8000) if kind == InstitutionKind.STUDENTS else None
                chair_gender = rng.choice([Gender.FEMALE] * 4 + [Gender.MALE])
                chair = _person_name(fake, chair_gender)
                # The employer is the institution; a students' primary's members study at the university.
                institution = (f"ФГБОУ ВО «Государственный педагогический университет» г. {town}"
                               if kind == InstitutionKind.STUDENTS else name)
                prim = _org(parent, OrgLevel.PRIMARY, f"Первичная профсоюзная организация {name}", short,
                            kind=kind, staff_count=staff, student_count=students,
                            address=f"г. {town}, ул. {fake.street_name()}, д. {rng.randint(1, 120)}",
                            inn=str(rng.randint(10**9, 10**10 - 1)), institution_name=institution,
                            institution_inn=str(rng.randint(10**9, 10**10 - 1)), chair_name=" ".join(chair),
                            chair_gender=chair_gender, chair_phone=fake.phone_number(),
                            chair_email=f"ppo{rng.randint(1000, 99999)}@example.ru",
                            committee_size=rng.randint(3, 9), audit_commission_size=rng.randint(1, 3))
                tree["primary"].append(prim)
    return tree


def _person_name(fake: Faker, gender: Gender) -> tuple[str, str, str]:
    if gender == Gender.MALE:
        return fake.last_name_male(), fake.first_name_male(), fake.middle_name_male()
    return fake.last_name_female(), fake.first_name_female(), fake.middle_name_female()


def member_rows(rng: random.Random, fake: Faker, primaries: list[Organisation], count: int, on: date):
    """Yield (member values, joined date) for `count` members spread over the primaries."""
    seen: set[str] = set()
    weights = [(o.student_count or o.staff_count or 30) for o in primaries]
    made = 0
    while made < count:
        org = rng.choices(primaries, weights)[0]
        student = org.kind == InstitutionKind.STUDENTS
        gender = rng.choice([Gender.FEMALE] * 4 + [Gender.MALE])
        last, first, middle = _person_name(fake, gender)
        if student:
            birth = on - timedelta(days=rng.randint(17 * 365, 24 * 365))
            category, position, education = Category.STUDENT, f"{rng.randint(1, 5)} курс", Education.SECONDARY
        elif rng.random() < 0.05:
            birth = on - timedelta(days=rng.randint(60 * 365, 80 * 365))
            category, position, education = Category.PENSIONER, "неработающий пенсионер", Education.HIGHER
        else:
            birth = on - timedelta(days=rng.randint(21 * 365, 65 * 365))
            category = Category.WORKING
            position = rng.choice(POSITIONS_WORKING)
            education = rng.choice([Education.HIGHER] * 3 + [Education.SECONDARY_VOCATIONAL])
        key = person_key(last, first, middle, birth)
        if key in seen:
            continue
        seen.add(key)
        earliest = birth + timedelta(days=18 * 365)
        joined = earliest + timedelta(days=rng.randint(0, max((on - earliest).days, 1)))
        consent = rng.choices([ConsentStatus.NONE, ConsentStatus.SIGNED, ConsentStatus.TRANSFERRED], [5, 2, 3])[0]
        card = CardStatus.NOT_ORDERED
        if consent == ConsentStatus.TRANSFERRED:
            card = rng.choice([CardStatus.NOT_ORDERED, CardStatus.ORDERED, CardStatus.ISSUED])
        yield {
            "org_id": org.id, "last_name": last, "first_name": first, "patronymic": middle,
            "last_name_folded": fold(last), "person_key": key, "birth_date": birth, "gender": gender,
            "department": "", "position": position, "education": education,
            "dues_form": rng.choice([DuesForm.CASHLESS] * 4 + [DuesForm.CASH]), "joined_on": joined,
            "tenure_start": joined, "category": category, "address": fake.address().replace("\n", ", "),
            # What the consent form names (152-FZ art. 9 part 4): a made-up passport.
            "id_doc_type": "паспорт гражданина Российской Федерации",
            "id_doc_number": f"{rng.randint(10, 99)} {rng.randint(0, 99):02d} {rng.randint(100000, 999999)}",
            "id_doc_issued_on": min(on, birth + timedelta(days=rng.choice([14, 20, 45]) * 365 + rng.randint(30, 300))),
            "id_doc_issuer": f"Отделом УФМС России в г. {fake.city_name()}",
            "phone": fake.phone_number() if rng.random() < 0.7 else "",
            "email": f"m{rng.randint(1, 10**9)}@example.ru" if rng.random() < 0.5 else "",
            "status": MemberStatus.ACTIVE, "status_since": joined, "consent_status": consent, "card_status": card,
            "card_number": None,
        }
        made += 1


MEMBER_COLUMNS = ("id", "org_id", "last_name", "first_name", "patronymic", "last_name_folded", "person_key",
                  "birth_date", "gender", "department", "position", "education", "dues_form", "joined_on",
                  "tenure_start", "category", "address", "id_doc_type", "id_doc_number", "id_doc_issued_on",
                  "id_doc_issuer", "phone", "email", "status", "status_since",
                  "consent_status", "card_status", "card_number")


def insert_members(rows: list[dict]) -> int:
    """Bulk-write members and their «joined» events (COPY on PostgreSQL)."""
    ids = allocate_ids(Member.__table__, len(rows))
    for row, new_id in zip(rows, ids, strict=True):
        row["id"] = new_id
    insert_rows(Member.__table__, MEMBER_COLUMNS, ([r.get(c) for c in MEMBER_COLUMNS] for r in rows))
    insert_rows(MemberEvent.__table__, ("member_id", "kind", "on_date", "to_org_id", "reason"),
                ((r["id"], EventKind.JOINED, r["joined_on"], r["org_id"], "") for r in rows))
    return len(rows)


def realistic_staff_counts(rng: random.Random, primaries: list[Organisation], per_org: dict[int, int]) -> None:
    """Staff (students) counts that give the primaries the membership levels seen in the pilot's reports.

    A small demo spreads a few thousand members over hundreds of primaries, so the drawn staff counts would make every
    level a few per cent. Each primary with members gets a level instead: a fifth exactly 100 %, half between 80 and
    100 %, the rest between 55 and 80 % — so the aid table's three columns all occur — and the count follows from it.
    """
    for org in primaries:
        n = per_org.get(org.id, 0)
        if not n:
            continue
        draw = rng.random()
        level = 1.0 if draw < 0.2 else rng.uniform(0.8, 0.99) if draw < 0.7 else rng.uniform(0.55, 0.8)
        count = max(n, math.ceil(n / level))
        if org.kind == InstitutionKind.STUDENTS:
            org.student_count = count
        else:
            org.staff_count = count


def load_demo(members: int = 2000, seed: int = 2026, regions: int = 18, news: int = 300) -> dict:
    """Create the demo registry; returns the accounts made. Refuses to run on a non-empty registry."""
    if db.session.scalar(select(Organisation.id).limit(1)) is not None:
        raise RuntimeError("В базе уже есть организации: демо-данные загружаются только в пустую базу.")
    rng = random.Random(seed)
    fake = Faker("ru_RU")
    fake.seed_instance(seed)
    tree = build_tree(rng, fake, regions=regions)
    on = date.today()
    batch: list[dict] = []
    per_org: dict[int, int] = {}
    for row in member_rows(rng, fake, tree["primary"], members, on):
        batch.append(row)
        per_org[row["org_id"]] = per_org.get(row["org_id"], 0) + 1
        if len(batch) >= 20000:
            insert_members(batch)
            batch = []
    if batch:
        insert_members(batch)
    realistic_staff_counts(rng, tree["primary"], per_org)
    # Accounts: the demo region is Липецкая (seed 002's sample file is a Lipetsk school).
    region = tree["regional"][1] if len(tree["regional"]) > 1 else tree["regional"][0]
    territorial = next(t for t in tree["territorial"] if t.parent_id == region.id)
    # The demo chair gets the school of that city with the most members, so their list is worth a look.
    school = max((p for p in tree["primary"] if p.parent_id == territorial.id),
                 key=lambda p: (p.kind == InstitutionKind.SCHOOL, per_org.get(p.id, 0)))
    targets = {"central": tree["central"], "regional": region, "territorial": territorial, "primary": school}
    accounts = []
    for login, role, level in DEMO_ACCOUNTS:
        user = User(login=login, role=role, org_id=targets[level].id, full_name=f"Демо: {role.title}",
                    must_change_password=False)
        user.set_password(DEMO_PASSWORD)
        db.session.add(user)
        accounts.append((login, role.title, str(targets[level])))
    db.session.flush()
    load_demo_aid(region, school, rng, fake)
    members = load_demo_cabinets(school)
    from portal.news.demo import load_demo_news

    editor = db.session.scalar(select(User).where(User.login == "editor-cs"))
    if editor is not None:
        load_demo_news(rng, tree["central"], tree["regional"], editor, count=news)
    from portal.stats.counts import rebuild_all

    rebuild_all()  # the members were bulk-written past the ORM: count them once
    db.session.commit()
    if editor is not None:
        import search_index

        search_index.rebuild("news")
    return {"accounts": accounts, "members": members, "password": DEMO_PASSWORD, "orgs": sum(len(v) if isinstance(v, list) else 1
                                                                          for v in tree.values())}


# A one-page PDF standing in for the scanned voucher stub of the demo petitions.
DEMO_PROOF_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
                  b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
DEMO_BIK = "044206604"  # a Lipetsk-style BIK; accounts get the right control key from it


# The demo region's own union programme (made up: seed 004's «ООО «Саратовкурорт»» is Saratov's).
DEMO_PROGRAMME = "программа «Здоровый педагог» Липецкой областной организации"
DEMO_SANATORIUMS = ["Санаторий «Лесная сказка»", "Санаторий «Мечта»", "Санаторий «Пятигорский нарзан»"]


def load_demo_aid(region: Organisation, school: Organisation, rng: random.Random, fake: Faker) -> None:
    """The demo region's own regulation, made from the template as its office would (its addressee, its chairman,
    its programme; seed 004's table), and demo petitions in every state."""
    from dataclasses import replace

    from portal.aid import operations as aid_ops
    from portal.aid.models import AttachmentKind, PetitionAttachment
    from portal.files import store_bytes

    users = {u.login: u for u in db.session.scalars(select(User).where(
        User.login.in_(["school", "region", "region-staff", "presidium", "accountant"])))}
    if not region.chair_name:
        region.chair_name = " ".join(_person_name(fake, Gender.MALE))
        region.chair_gender = Gender.MALE
    on = date.today()
    value = replace(aid_ops.regulation_template(region), programme_name=DEMO_PROGRAMME)
    aid_ops.save_regulation(None, region, value, valid_from=date(on.year, 1, 1),
                            approved_by="Постановление Президиума (демо)")
    db.session.flush()
    members = [m for m in db.session.scalars(select(Member).where(Member.org_id == school.id,
                                                                  Member.status == MemberStatus.ACTIVE)
                                             .order_by(Member.id)) if m.tenure_years(on) >= 1]
    plan = ["filed", "reviewed", "reviewed", "approved", "paid", "rejected", "override"]
    for i, (member, state) in enumerate(zip(members, plan, strict=False)):
        start = on - timedelta(days=rng.randint(20, 200))
        treatment = aid_ops.TreatmentFacts(
            sanatorium=rng.choice(DEMO_SANATORIUMS),
            treatment_start=start, treatment_end=start + timedelta(days=rng.choice([11, 13, 20])),
            voucher_source=rng.choice(["purchase", "union_programme"]), payer="member")
        account = aid_ops.with_account_key(f"40817810{rng.randint(10**11, 10**12 - 1):012d}", DEMO_BIK)
        petition = aid_ops.file_petition(users["school"], member, treatment, on - timedelta(days=5), str(10 + i),
                                         account, DEMO_BIK, "Липецкое отделение ПАО Сбербанк")
        db.session.flush()
        if state == "filed":
            continue
        name = f"demo-proof-{petition.id}.pdf"
        store_bytes(aid_ops.ATTACHMENT_AREA, name, DEMO_PROOF_PDF)
        db.session.add(PetitionAttachment(petition_id=petition.id, kind=AttachmentKind.PROOF, stored_name=name,
                                          file_type="pdf", original_name="otryvnoy-talon.pdf",
                                          size=len(DEMO_PROOF_PDF)))
        db.session.flush()
        db.session.expire(petition, ["attachments"])
        if state == "override":
            aid_ops.act(petition, "override", users["region"], params={"amount": "20000", "conditions":
                        "лечение после тяжёлой операции"}, comment="Исключительный случай (п. 4.5), демо")
            continue
        aid_ops.act(petition, "review", users["region-staff"])
        if state == "reviewed":
            continue
        decision = {"decision_date": on, "decision_number": "7"}
        if state == "rejected":
            aid_ops.act(petition, "reject", users["presidium"], params=decision, comment="Не подтверждено лечение")
            continue
        aid_ops.act(petition, "approve", users["presidium"], params=decision)
        if state == "paid":
            aid_ops.act(petition, "pay", users["accountant"], params={"paid_on": on, "payment_reference": "п/п 1043"})


DEMO_CABINETS = 3


def load_demo_cabinets(school: Organisation) -> list[tuple[str, str]]:
    """A few members of the demo school with a signed consent, an issued card and a registered cabinet (password
    DEMO_PASSWORD); returns (card number, name). The numbers are the first ones the card counter gives, so the
    first is always 2202 0000 0000 0010 (README).

    The consent goes through its workflow as the school's chair would record it; the card is set up as issued
    directly (the request → batch → shipment path of a real card is the cards demo's business, not this one's).
    """
    from portal.cabinet.models import MemberAccount
    from portal.cards.models import Card, CardState
    from portal.cards.operations import card_number, next_sequence
    from portal.clock import now
    from portal.consent import operations as consent_ops
    from portal.registry.models import CardStatus, ConsentStatus, Member, MemberStatus

    chair = db.session.scalar(select(User).where(User.login == "school"))
    members = db.session.scalars(select(Member).where(
        Member.org_id == school.id, Member.status == MemberStatus.ACTIVE, Member.card_number.is_(None))
        .order_by(Member.id).limit(DEMO_CABINETS)).all()
    out = []
    for member, seq in zip(members, next_sequence(len(members)), strict=True):
        if member.consent_status not in (ConsentStatus.SIGNED, ConsentStatus.TRANSFERRED):
            consent_ops.mark_printed(chair, member)  # a reprint of a printed form changes nothing
            consent_ops.record_signature(chair, member, date.today())
        number = card_number(seq)
        db.session.add(Card(number=number, member_id=member.id, state=CardState.ISSUED, issued_on=date.today()))
        member.card_number, member.card_status = number, CardStatus.ISSUED
        account = MemberAccount(member_id=member.id, email=f"member{seq}@demo.profportal.local",
                                phone=member.phone or "", rules_accepted_at=now(), email_confirmed_at=now(),
                                session_version=1, verify_token=MemberAccount.new_verify_token(),
                                closed_reason="")
        account.set_password(DEMO_PASSWORD)
        db.session.add(account)
        out.append((number, member.full_name))
    db.session.flush()
    return out

"""A fast generator of a realistic registry: the organisation tree and millions of members, written with COPY.

`portal.demo` creates organisations one ORM flush at a time and names people with Faker, which is right for a
demo of thousands and far too slow for millions. Here the tree is planned in memory with ids assigned up front,
names are drawn from pools (Faker's ru_RU lists, surnames weighted by their real frequency rank), and rows go to
PostgreSQL as COPY text in chunks. The schema is the one the Alembic migrations build: the secondary indexes and
foreign keys of `members` and `member_events` are dropped for the load and re-created from their own definitions
(what pg_restore does), so the finished database is identical to a migrated one.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import date
from queue import Queue
from threading import Thread

from faker.providers.person.ru_RU import Provider as RuNames

from portal.demo import PILOT_REGIONS, POSITIONS_WORKING, UNION
from portal.registry.models import (
    CardStatus,
    Category,
    ConsentStatus,
    DuesForm,
    Education,
    EventKind,
    Gender,
    InstitutionKind,
    MemberStatus,
    OrgLevel,
)
from portal.text import fold

# Regional centres beyond the 18 pilot regions, for runs that scale the number of regions up.
MORE_CITIES = [
    "Белгород", "Брянск", "Владимир", "Воронеж", "Иваново", "Калуга", "Кострома", "Курск", "Рязань", "Смоленск",
    "Тамбов", "Тверь", "Тула", "Ярославль", "Петрозаводск", "Сыктывкар", "Архангельск", "Вологда", "Мурманск",
    "Великий Новгород", "Псков", "Санкт-Петербург", "Майкоп", "Элиста", "Симферополь", "Астрахань", "Волгоград",
    "Ростов-на-Дону", "Махачкала", "Магас", "Нальчик", "Черкесск", "Владикавказ", "Саранск", "Казань", "Ижевск",
    "Киров", "Оренбург", "Пенза", "Самара", "Саратов", "Ульяновск", "Екатеринбург", "Челябинск", "Ханты-Мансийск",
    "Салехард", "Кызыл", "Абакан", "Красноярск", "Иркутск", "Кемерово", "Новосибирск", "Томск", "Улан-Удэ",
    "Чита", "Якутск", "Петропавловск-Камчатский", "Хабаровск", "Благовещенск", "Магадан", "Южно-Сахалинск",
    "Биробиджан", "Анадырь", "Нарьян-Мар", "Севастополь", "Сургут", "Набережные Челны", "Тольятти", "Новокузнецк",
    "Норильск", "Братск",
]
DISTRICT_WORDS = ["Центральный", "Ленинский", "Октябрьский", "Советский", "Заречный", "Северный", "Южный",
                  "Кировский", "Первомайский", "Железнодорожный", "Фрунзенский", "Пролетарский", "Заводской",
                  "Индустриальный", "Калининский", "Московский", "Приволжский", "Красноармейский"]

MEMBER_COLUMNS = ("id", "org_id", "last_name", "first_name", "patronymic", "last_name_folded", "person_key",
                  "birth_date", "gender", "department", "position", "education", "dues_form", "joined_on",
                  "tenure_start", "category", "address", "phone", "email", "status", "status_since",
                  "consent_status", "card_status", "card_number")
ORG_COLUMNS = ("id", "parent_id", "level", "path", "name", "short_name", "inn", "kind", "address", "chair_name",
               "chair_phone", "chair_email", "chair_gender", "chair_released", "staff_count", "student_count",
               "committee_size", "audit_commission_size")
EVENT_COLUMNS = ("member_id", "kind", "on_date", "to_org_id", "reason")

NULL = "\\N"


def regions_for(members: int) -> int:
    """18 pilot regions up to ~1 million members, then about one region per 59,000 members (85 at 5 million)."""
    return max(18, min(18 + len(MORE_CITIES), round(members / 59_000)))


# ---- name pools ------------------------------------------------------------------------------------------------


class NamePools:
    """Faker's ru_RU name lists as pools; surnames are listed by frequency, so they get Zipf-like weights."""

    def __init__(self):
        self.last = []
        seen: set[str] = set()
        for m, f in zip(RuNames.last_names_male, RuNames.last_names_female, strict=True):
            if fold(m) not in seen and fold(f) not in seen:
                seen.update((fold(m), fold(f)))
                self.last.append((m, f))
        # Distinct after folding (Faker's lists repeat a few names), so distinct indexes mean distinct person keys.
        self.first = {"M": _distinct(RuNames.first_names_male), "F": _distinct(RuNames.first_names_female)}
        self.middle = {"M": _distinct(RuNames.middle_names_male), "F": _distinct(RuNames.middle_names_female)}
        # Rank r gets weight 1/(r+20): the top surname ≈1.8 % of people (Смирнов), the 250th ≈0.15 %.
        acc, self.last_cum = 0.0, []
        for rank in range(len(self.last)):
            acc += 1.0 / (rank + 20)
            self.last_cum.append(acc)
        # First names: a common core weighted up, the long tail of rare ones kept rare.
        self.first_cum = {g: _cum([3.0 if _common_first(n) else 0.15 for n in names])
                          for g, names in self.first.items()}
        self.middle_cum = {g: _cum([3.0 if _common_middle(n) else 0.3 for n in names])
                           for g, names in self.middle.items()}
        self.last_folded = [(fold(m), fold(f)) for m, f in self.last]

    def common_surnames(self, k: int = 20) -> list[str]:
        return [f for _m, f in self.last[:k]]


_COMMON_FIRST = {"Александр", "Алексей", "Андрей", "Дмитрий", "Сергей", "Владимир", "Михаил", "Николай", "Иван",
                 "Евгений", "Игорь", "Павел", "Олег", "Виктор", "Юрий", "Максим", "Роман", "Анна", "Елена",
                 "Ольга", "Наталья", "Татьяна", "Ирина", "Светлана", "Марина", "Мария", "Екатерина", "Юлия",
                 "Людмила", "Галина", "Надежда", "Валентина", "Анастасия", "Оксана", "Любовь", "Вера", "Лариса"}


def _common_first(name: str) -> bool:
    return name in _COMMON_FIRST


def _common_middle(name: str) -> bool:
    return name.startswith(("Александров", "Сергеев", "Владимиров", "Николаев", "Иванов", "Петров", "Викторов",
                            "Юрьев", "Анатольев", "Михайлов", "Алексеев", "Васильев", "Андреев", "Дмитриев"))


def _distinct(names) -> list[str]:
    seen: set[str] = set()
    return [n for n in names if not (fold(n) in seen or seen.add(fold(n)))]


def _cum(weights: list[float]) -> list[float]:
    acc, out = 0.0, []
    for w in weights:
        acc += w
        out.append(acc)
    return out


# ---- the tree --------------------------------------------------------------------------------------------------


@dataclass
class Tree:
    rows: list[tuple] = field(default_factory=list)  # ORG_COLUMNS tuples
    primaries: list[int] = field(default_factory=list)
    territorials: list[int] = field(default_factory=list)
    regions: list[int] = field(default_factory=list)
    student_orgs: set[int] = field(default_factory=set)
    members_of: dict[int, int] = field(default_factory=dict)  # primary id -> member count
    paths: dict[int, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.rows)


def _phone(rng: random.Random) -> str:
    return f"+7 ({rng.randint(300, 999)}) {rng.randint(200, 999)}-{rng.randint(10, 99)}-{rng.randint(10, 99)}"


def plan_tree(members: int, rng: random.Random, pools: NamePools) -> Tree:
    """Central → regions (18+, scaled) → ~20 territorials each → primaries (about one per 55 members).

    Most primaries are schools and kindergartens under territorials; about 5 % (colleges, universities and
    students' organisations, some with thousands of members) hang directly under the region. Member counts
    are staff × a membership level of 40–100 %, scaled so that they add up to exactly `members`.
    """
    tree = Tree()
    next_id = iter(range(1, 10**9))

    def add(parent: int | None, level: OrgLevel, name: str, short: str, kind: InstitutionKind, address: str,
            **extra) -> int:
        oid = next(next_id)
        path = f"{tree.paths[parent] if parent else '/'}{oid}/"
        tree.paths[oid] = path
        gender = rng.choice("FFFFM")
        last_m, last_f = pools.last[rng.randrange(len(pools.last))]
        chair = " ".join((last_f if gender == "F" else last_m, rng.choice(pools.first[gender]),
                          rng.choice(pools.middle[gender])))
        tree.rows.append((
            oid, parent, level.value, path, name, short, extra.get("inn", ""), kind.value, address, chair,
            _phone(rng), f"org{oid}@example.ru", gender, rng.random() < 0.1, extra.get("staff"),
            extra.get("students"), extra.get("committee"), extra.get("commission")))
        return oid

    n_regions = regions_for(members)
    n_primaries = max(1, round(members / 55))
    cities = list(PILOT_REGIONS) + [(f"Региональная ({c})", c) for c in MORE_CITIES]
    central = add(None, OrgLevel.CENTRAL, f"Центральный Совет {UNION}", "ЦС Профсоюза", InstitutionKind.OTHER,
                  "г. Москва")
    # How many territorials per region (~20), and how the primaries spread over the parents.
    parents: list[tuple[int, str, bool]] = []  # (org id, town, is_region)
    for rname, city in cities[:n_regions]:
        region = add(central, OrgLevel.REGIONAL, f"{rname} организация {UNION}", f"{rname} организация",
                     InstitutionKind.OTHER, f"г. {city}")
        tree.regions.append(region)
        parents.append((region, city, True))
        for t in range(rng.randint(14, 26)):
            town = city if t == 0 else f"{city}, {rng.choice(DISTRICT_WORDS)} район"
            word = "Городская" if t == 0 else "Районная"
            terr = add(region, OrgLevel.TERRITORIAL, f"{word} организация {UNION} ({town})",
                       f"{word} организация ({town})", InstitutionKind.OTHER, f"г. {town}")
            tree.territorials.append(terr)
            parents.append((terr, town, False))
    terr_parents = [p for p in parents if not p[2]]
    region_parents = [p for p in parents if p[2]]
    # Territorials differ in size (a city has many schools, a rural district few).
    terr_weights = [rng.lognormvariate(0, 0.5) for _ in terr_parents]
    raw: list[tuple[int, float]] = []  # (primary id, raw member count)
    for i in range(n_primaries):
        under_region = rng.random() < 0.05
        if under_region:
            parent, town, _ = region_parents[i % len(region_parents)]
            kind = rng.choices([InstitutionKind.COLLEGE, InstitutionKind.UNIVERSITY, InstitutionKind.STUDENTS],
                               [5, 2.5, 2.5])[0]
        else:
            parent, town, _ = rng.choices(terr_parents, terr_weights)[0]
            kind = rng.choices([InstitutionKind.SCHOOL, InstitutionKind.KINDERGARTEN, InstitutionKind.EXTRA],
                               [5, 4, 1])[0]
        n = rng.randint(1, 180)
        name, short = {
            InstitutionKind.SCHOOL: (f"МБОУ «Средняя общеобразовательная школа № {n}» ({town})", f"СОШ № {n}"),
            InstitutionKind.KINDERGARTEN: (f"МБДОУ «Детский сад № {n}» ({town})", f"Детский сад № {n}"),
            InstitutionKind.EXTRA: (f"МБУ ДО «Дом детского творчества № {n % 9 + 1}» ({town})",
                                    f"ДДТ № {n % 9 + 1}"),
            InstitutionKind.COLLEGE: (f"ГАПОУ «Колледж № {n % 12 + 1}» г. {town}", f"Колледж № {n % 12 + 1}"),
            InstitutionKind.UNIVERSITY: (f"ФГБОУ ВО «Университет № {n % 6 + 1}» г. {town} (работники)",
                                         f"Университет № {n % 6 + 1} (работники)"),
            InstitutionKind.STUDENTS: (f"студентов университета № {n % 6 + 1} г. {town}", "Студенческая ППО"),
        }[kind]
        staff = {InstitutionKind.SCHOOL: rng.randint(30, 130), InstitutionKind.KINDERGARTEN: rng.randint(15, 50),
                 InstitutionKind.EXTRA: rng.randint(10, 40), InstitutionKind.COLLEGE: rng.randint(60, 200),
                 InstitutionKind.UNIVERSITY: rng.randint(300, 900), InstitutionKind.STUDENTS: None}[kind]
        students = rng.randint(800, 4000) if kind == InstitutionKind.STUDENTS else None
        oid = add(parent, OrgLevel.PRIMARY, f"Первичная профсоюзная организация {name}", short, kind,
                  f"г. {town}", inn=str(rng.randint(10**9, 10**10 - 1)), staff=staff, students=students,
                  committee=rng.randint(3, 9), commission=rng.randint(1, 3))
        tree.primaries.append(oid)
        if kind == InstitutionKind.STUDENTS:
            tree.student_orgs.add(oid)
        raw.append((oid, (students or staff) * rng.uniform(0.4, 1.0)))
    # Scale the raw counts to add up to exactly `members` (largest remainders).
    total = sum(r for _, r in raw)
    exact = [(oid, r * members / total) for oid, r in raw]
    counts = {oid: int(x) for oid, x in exact}
    short = members - sum(counts.values())
    for oid, _x in sorted(exact, key=lambda e: e[1] - int(e[1]), reverse=True)[:short]:
        counts[oid] += 1
    tree.members_of = counts
    return tree


# ---- members ---------------------------------------------------------------------------------------------------


class DateTable:
    """ISO strings for every day from 1940 to today, indexed by ordinal (str(date) is the slow part otherwise)."""

    def __init__(self, today: date):
        self.base = date(1940, 1, 1).toordinal()
        self.today = today.toordinal()
        self.iso = [date.fromordinal(o).isoformat() for o in range(self.base, self.today + 1)]

    def __getitem__(self, ordinal: int) -> str:
        return self.iso[ordinal - self.base]


def member_chunks(tree: Tree, pools: NamePools, rng: random.Random, first_id: int, today: date,
                  chunk: int = 100_000, seen: set[int] | None = None):
    """Yield (member COPY text, event COPY text, rows) chunks; members of a primary are spread over the table.

    Every person_key is unique (checked on a compact integer code of the name parts and birth date).
    """
    dates = DateTable(today)
    org_of: list[int] = []
    for oid, n in tree.members_of.items():
        org_of.extend([oid] * n)
    rng.shuffle(org_of)  # people join over the years, so a primary's members are scattered over the heap
    seen = set() if seen is None else seen
    today_o = dates.today
    last, last_folded, last_cum = pools.last, pools.last_folded, pools.last_cum
    first, middle, first_cum, middle_cum = pools.first, pools.middle, pools.first_cum, pools.middle_cum
    n_first = {g: len(v) for g, v in first.items()}
    n_middle = {g: len(v) for g, v in middle.items()}
    folded_first = {g: [fold(x) for x in v] for g, v in first.items()}
    folded_middle = {g: [fold(x) for x in v] for g, v in middle.items()}
    choices, rand = rng.choices, rng.random
    positions = POSITIONS_WORKING
    students = tree.student_orgs
    A, ST, LEFT, EXC = MemberStatus.ACTIVE.value, Category.STUDENT.value, MemberStatus.LEFT.value, \
        MemberStatus.EXCLUDED.value
    HIGHER, SVOC, SEC = Education.HIGHER.value, Education.SECONDARY_VOCATIONAL.value, Education.SECONDARY.value
    CASHLESS, CASH = DuesForm.CASHLESS.value, DuesForm.CASH.value
    WORK, PENS = Category.WORKING.value, Category.PENSIONER.value
    C_NONE, C_SIGNED, C_TRANSFERRED = (ConsentStatus.NONE.value, ConsentStatus.SIGNED.value,
                                       ConsentStatus.TRANSFERRED.value)
    CARD_NOT, CARD_ORD, CARD_ISSUED = (CardStatus.NOT_ORDERED.value, CardStatus.ORDERED.value,
                                       CardStatus.ISSUED.value)
    JOINED, EV_LEFT, EV_EXC = EventKind.JOINED.value, EventKind.LEFT.value, EventKind.EXCLUDED.value
    F, M = Gender.FEMALE.value, Gender.MALE.value
    iso = dates.iso
    base = dates.base
    y18, y21 = 18 * 365 + 5, 21 * 365 + 5
    student_span, working_span = 24 * 365 - y18 - 30, 65 * 365 - y21

    for start in range(0, len(org_of), chunk):
        m_lines: list[str] = []
        e_lines: list[str] = []
        part = org_of[start:start + chunk]
        k = len(part)
        surnames = choices(range(len(last)), cum_weights=last_cum, k=k)
        firsts = {g: choices(range(n_first[g]), cum_weights=first_cum[g], k=k) for g in (F, M)}
        middles = {g: choices(range(n_middle[g]), cum_weights=middle_cum[g], k=k) for g in (F, M)}
        for j, oid in enumerate(part):
            mid = first_id + start + j
            student = oid in students
            g = F if rand() < (0.62 if student else 0.82) else M
            s = surnames[j]
            fi = firsts[g][j]
            pi = middles[g][j]
            r = rand()
            if student:
                birth = today_o - y18 - 30 - int(rand() * student_span)
                category, position, education = ST, f"{1 + int(r * 5)} курс", SEC
            elif r < 0.05:
                birth = today_o - 60 * 365 - int(rand() * 20 * 365)
                category, position, education = PENS, "неработающий пенсионер", HIGHER
            else:
                birth = today_o - y21 - int(rand() * working_span)
                category, position = WORK, positions[int(r * 1000) % len(positions)]
                education = HIGHER if r < 0.75 else SVOC
            gi = 0 if g == M else 1
            code = ((((s * 2 + gi) * 400 + fi) * 200 + pi) << 16) | (birth - base)
            while code in seen:  # the same person twice: move the birthday
                birth -= 1
                code = ((((s * 2 + gi) * 400 + fi) * 200 + pi) << 16) | (birth - base)
            seen.add(code)
            earliest = birth + y18
            joined = earliest + int(rand() * max(today_o - earliest, 1))
            r2 = rand()
            if r2 < 0.95:
                status, since = A, joined
            else:
                status = LEFT if r2 < 0.98 else EXC
                since = joined + int(rand() * max(today_o - joined, 1))
            r3 = rand()
            card_number = NULL
            if r3 < 0.5:
                consent, card = C_NONE, CARD_NOT
            elif r3 < 0.7:
                consent, card = C_SIGNED, CARD_NOT
            else:
                consent = C_TRANSFERRED
                card = CARD_NOT if r3 < 0.8 else (CARD_ORD if r3 < 0.9 else CARD_ISSUED)
                if card != CARD_NOT:
                    card_number = f"9643{mid:012d}"
            ln = last[s][gi]
            lf = last_folded[s][gi]
            fn, pn = first[g][fi], middle[g][pi]
            b_iso, j_iso = iso[birth - base], iso[joined - base]
            phone = f"+7 9{mid % 100:02d} {mid % 1000:03d}-{(mid // 7) % 100:02d}-{(mid // 3) % 100:02d}" \
                if r2 * 10 % 1 < 0.7 else ""
            email = f"m{mid}@example.ru" if r3 * 10 % 1 < 0.5 else ""
            m_lines.append(
                f"{mid}\t{oid}\t{ln}\t{fn}\t{pn}\t{lf}\t{lf}|{folded_first[g][fi]}|{folded_middle[g][pi]}|{b_iso}\t"
                f"{b_iso}\t{g}\t\t{position}\t{education}\t{CASH if r * 7 % 1 < 0.2 else CASHLESS}\t{j_iso}\t"
                f"{j_iso}\t{category}\t\t{phone}\t{email}\t{status}\t{iso[since - base]}\t{consent}\t{card}\t"
                f"{card_number}\n")
            e_lines.append(f"{mid}\t{JOINED}\t{j_iso}\t{oid}\t\n")
            if status != A:
                e_lines.append(f"{mid}\t{EV_LEFT if status == LEFT else EV_EXC}\t{iso[since - base]}\t\\N\t\n")
        yield "".join(m_lines), "".join(e_lines), len(part)


# ---- loading ---------------------------------------------------------------------------------------------------


def _copy_text(cur, table: str, columns, payload: str) -> None:
    cols = ", ".join(f'"{c}"' for c in columns)
    with cur.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
        copy.write(payload.encode())


def _org_copy_text(rows: list[tuple]) -> str:
    def cell(v):
        if v is None:
            return NULL
        if isinstance(v, bool):
            return "t" if v else "f"
        return str(v)

    return "".join("\t".join(cell(v) for v in row) + "\n" for row in rows)


def _secondary_objects(cur, tables: tuple[str, ...]) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """Definitions of the non-primary-key indexes and the foreign keys of `tables`, to drop and re-create."""
    cur.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY(%s) "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))", (list(tables),))
    indexes = cur.fetchall()
    cur.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)", (list(tables),))
    fkeys = cur.fetchall()
    return indexes, fkeys


def load(conn, members: int, seed: int, log=print) -> dict:
    """Fill an empty migrated database; returns timings. `conn` is a psycopg connection (not autocommit)."""
    rng = random.Random(seed)
    pools = NamePools()
    out: dict = {"members": members}
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM organisations")
        if cur.fetchone()[0]:
            raise RuntimeError("the bench database is not empty")
        cur.execute("SET synchronous_commit = off")
        cur.execute("SET maintenance_work_mem = '1GB'")
        cur.execute("SET max_parallel_maintenance_workers = 1")  # a shared machine: leave a core to others
        t0 = time.perf_counter()
        tree = plan_tree(members, rng, pools)
        _copy_text(cur, "organisations", ORG_COLUMNS, _org_copy_text(tree.rows))
        cur.execute("SELECT setval(pg_get_serial_sequence('organisations', 'id'), %s)", (tree.count,))
        out.update(orgs=tree.count, regions=len(tree.regions), territorials=len(tree.territorials),
                   primaries=len(tree.primaries), tree_seconds=time.perf_counter() - t0)
        log(f"tree: {tree.count} organisations ({len(tree.regions)} regions, {len(tree.territorials)} "
            f"territorials, {len(tree.primaries)} primaries) in {out['tree_seconds']:.1f} s")

        indexes, fkeys = _secondary_objects(cur, ("members", "member_events"))
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        for table, name, _ in fkeys:
            cur.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')

        # Python generates the next chunk while PostgreSQL ingests the previous one (a writer thread does COPY).
        t1 = time.perf_counter()
        stats = {"copy": 0.0, "done": 0, "events": 0}
        queue: Queue = Queue(maxsize=2)
        failure: list[BaseException] = []

        def writer():
            try:
                while (item := queue.get()) is not None:
                    m_text, e_text, n = item
                    c0 = time.perf_counter()
                    _copy_text(cur, "members", MEMBER_COLUMNS, m_text)
                    _copy_text(cur, "member_events", EVENT_COLUMNS, e_text)
                    stats["copy"] += time.perf_counter() - c0
                    stats["done"] += n
                    stats["events"] += e_text.count("\n")
                    done = stats["done"]
                    if done % 1_000_000 < n or done == members:
                        log(f"  members: {done:,} ({done / (time.perf_counter() - t1):,.0f}/s)")
            except BaseException as e:  # noqa: BLE001 (re-raised in the main thread)
                failure.append(e)
                while queue.get() is not None:
                    pass

        thread = Thread(target=writer, name="copy-writer")
        thread.start()
        gen_s = 0.0
        chunks = member_chunks(tree, pools, rng, 1, date.today())
        try:
            while not failure:
                g0 = time.perf_counter()
                item = next(chunks, None)
                gen_s += time.perf_counter() - g0
                if item is None:
                    break
                queue.put(item)
        finally:
            queue.put(None)
            thread.join()
        if failure:
            raise failure[0]
        done, events, first_id = stats["done"], stats["events"], 1
        out.update(member_rows=done, event_rows=events, generate_seconds=gen_s, copy_seconds=stats["copy"],
                   load_seconds=time.perf_counter() - t1)
        cur.execute("SELECT setval(pg_get_serial_sequence('members', 'id'), %s)", (first_id + done - 1,))

        t2 = time.perf_counter()
        for name, definition in indexes:
            i0 = time.perf_counter()
            cur.execute(definition)
            log(f"  index {name}: {time.perf_counter() - i0:.1f} s")
        for table, name, definition in fkeys:
            cur.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
        out["index_seconds"] = time.perf_counter() - t2
        log(f"indexes and foreign keys re-created in {out['index_seconds']:.1f} s")
    conn.commit()
    return out

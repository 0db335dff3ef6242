"""Member import: both sample files end to end, every refusal reason, duplicates, idempotent re-import, dry run,
mapping corrections, bad files, the chair's web flow with its background job, access to jobs, and the CLI."""

from __future__ import annotations

import codecs
import io
import json
import re
import time
from datetime import date

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from portal.audit import AuditEntry
from portal.extensions import db
from portal.registry import operations as ops
from portal.registry.imports import (
    IN_OTHER_ORG,
    IN_THIS_ORG,
    ImportJob,
    ImportStatus,
    MemberImportError,
    claim_job,
    detect_kind,
    import_file,
    open_sheet,
)
from portal.registry.models import (
    Category,
    DuesForm,
    Education,
    EventKind,
    Gender,
    Member,
    MemberEvent,
    MemberStatus,
)
from tests.conftest import DATA, create_member, login

CSV_FILE = DATA / "members-1c-export.csv"
XLSX_FILE = DATA / "members.xlsx"
SAMPLES = [CSV_FILE, XLSX_FILE]

HEADER = ["Фамилия", "Имя", "Отчество", "Дата рождения", "Пол", "Должность", "Образование", "Форма уплаты взносов",
          "Дата вступления в Профсоюз", "Категория", "Телефон", "E-mail"]
GOOD = ["Петрова", "Анна", "Игоревна", "12.03.1980", "Ж", "учитель химии", "высшее", "безналичная", "01.09.2005",
        "работающий", "+7 (474) 200-00-00", "petrova@example.ru"]


def expected_outcome() -> dict:
    """EXPECTED.md read as data: the counts and {«Фамилия Имя»: reason} of the refused rows."""
    text = (DATA / "EXPECTED.md").read_text(encoding="utf-8")
    counts = {k: int(v) for k, v in re.findall(r"^- (rows|imported): (\d+)$", text, re.M)}
    counts["refused"] = int(re.search(r"rows refused with a reason: (\d+)", text).group(1))
    counts["duplicates"] = int(re.search(r"duplicates reported.*?: (\d+)", text).group(1))
    refused = dict(re.findall(r"^\s+- (\S+ \S+): (.+)$", text, re.M))
    return {"counts": counts, "refused": refused}


def csv_bytes(rows, header=HEADER, delimiter=";", encoding="cp1251", bom=False) -> bytes:
    text = "\r\n".join(delimiter.join(r) for r in [header, *rows]) + "\r\n"
    data = text.encode(encoding)
    return (codecs.BOM_UTF8 + data) if bom else data


def xlsx_bytes(rows, header=HEADER, title=True) -> bytes:
    wb = Workbook()
    ws = wb.active
    if title:
        ws.append(["Список членов профсоюзной организации"])
        ws.append([])
    ws.append(header)
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def row(**changes) -> list[str]:
    values = dict(zip(HEADER, GOOD, strict=True))
    values.update(changes)
    return [values[h] for h in HEADER]


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def snapshot(org_id: int):
    """Every stored column of the organisation's members and their events, to prove nothing changed."""
    members = db.session.execute(select(Member.__table__).where(Member.org_id == org_id).order_by(Member.id)).all()
    events = db.session.execute(select(MemberEvent.__table__).order_by(MemberEvent.id)).all()
    return members, events


def short(name: str) -> str:
    return " ".join(name.split()[:2])


# ---- the two sample files ----------------------------------------------------------------------------------------


def test_csv_sample_is_read_as_1c_writes_it():
    sheet = open_sheet(CSV_FILE)
    try:
        assert sheet.kind == "csv"
        assert sheet.header_row == 1
        assert sheet.headers[:4] == ["Фамилия", "Имя", "Отчество", "Дата рождения"]
        mapping = sheet.auto_mapping
        assert mapping["last_name"] == 0 and mapping["patronymic"] == 2 and mapping["workplace"] == 5
        assert mapping["address"] == 13 and mapping["email"] == 12
        first = next(sheet.rows)
        assert first[0] == 2 and first[1][0] == "Семёнова"  # Windows-1251 decoded, row number as in the file
    finally:
        sheet.close()


def test_xlsx_sample_header_is_found_below_the_title_block():
    sheet = open_sheet(XLSX_FILE)
    try:
        assert sheet.kind == "xlsx"
        assert sheet.header_row == 4
        mapping = sheet.auto_mapping
        assert mapping == {"full_name": 0, "gender": 1, "birth_date": 2, "position": 3, "education": 4,
                           "dues_form": 5, "joined_on": 6, "category": 7, "phone": 8, "email": 9}
        number, cells = next(sheet.rows)
        assert number == 5 and cells[0] == "Семёнова Ирина Петровна"
    finally:
        sheet.close()


@pytest.mark.parametrize("path", SAMPLES, ids=["csv", "xlsx"])
def test_sample_imports_as_expected(world, path):
    org, chair = world.school_a2, world.users["primary_chair"]
    before = count(Member)
    expected = expected_outcome()
    result = import_file(org, path, path.name, chair)
    db.session.commit()

    assert result.rows == expected["counts"]["rows"] == 40
    assert result.imported == expected["counts"]["imported"] == 30
    assert result.duplicates == len(result.duplicate_rows) == expected["counts"]["duplicates"] == 2
    assert len(result.refused) == expected["counts"]["refused"] == 8
    assert {short(name): reason for _, name, reason in result.refused} == expected["refused"]
    assert all(reason.startswith("повтор строки") for _, _, reason in result.duplicate_rows)
    assert {short(n) for _, n, _ in result.duplicate_rows} == {"Смирнова Светлана", "Васильев Сергей"}

    assert count(Member) == before + 30
    assert count(Member, Member.org_id == org.id) == 31  # the world's own member plus the 30
    joined = db.session.scalars(select(MemberEvent).join(Member).where(Member.org_id == org.id,
                                                                       MemberEvent.kind == EventKind.JOINED)).all()
    assert len(joined) == 31
    imported_events = [e for e in joined if e.actor_id == chair.id]
    assert len(imported_events) == 30 and all(e.to_org_id == org.id for e in imported_events)


@pytest.mark.parametrize("path", SAMPLES, ids=["csv", "xlsx"])
def test_imported_card_holds_typed_values(world, path):
    org = world.school_a2
    import_file(org, path, path.name, None)
    db.session.commit()
    m = db.session.scalar(select(Member).where(Member.org_id == org.id, Member.last_name == "Морозова"))
    assert (m.first_name, m.patronymic, m.birth_date) == ("Анна", "Сергеевна", date(1984, 9, 21))
    assert (m.gender, m.education, m.dues_form, m.category) == (
        Gender.FEMALE, Education.SECONDARY_VOCATIONAL, DuesForm.CASHLESS, Category.WORKING)
    assert (m.joined_on, m.tenure_start, m.status_since) == (date(2008, 2, 7),) * 3
    assert m.status == MemberStatus.ACTIVE and m.card_number is None
    assert (m.position, m.phone, m.email) == ("учитель русского языка и литературы", "+7 (474) 278-81-97",
                                              "user1@school17.example.ru")
    assert m.person_key == "морозова|анна|сергеевна|1984-09-21" and m.last_name_folded == "морозова"
    # The first of the two «Смирнова» rows was typed in capitals with spaces: stored tidy, found by search.
    s = db.session.scalar(select(Member).where(Member.org_id == org.id, Member.first_name == "Светлана",
                                               Member.birth_date == date(1981, 5, 29)))
    assert s.last_name == "Смирнова"
    v = db.session.scalar(select(Member).where(Member.org_id == org.id, Member.last_name == "Васильев"))
    assert v.first_name == "Сергей"


@pytest.mark.parametrize("path", SAMPLES, ids=["csv", "xlsx"])
def test_reimport_of_the_same_file_changes_nothing(world, path):
    org = world.school_a2
    import_file(org, path, path.name, None)
    db.session.commit()
    before = snapshot(org.id)
    members, events = count(Member), count(MemberEvent)

    again = import_file(org, path, path.name, None)
    db.session.commit()
    assert (again.rows, again.imported, again.duplicates, len(again.refused)) == (40, 0, 32, 8)
    reasons = [r for _, _, r in again.duplicate_rows]
    assert reasons.count(IN_THIS_ORG) == 30
    assert sum(r.startswith("повтор строки") for r in reasons) == 2
    assert {short(n): r for _, n, r in again.refused} == expected_outcome()["refused"]
    assert (count(Member), count(MemberEvent)) == (members, events)
    assert snapshot(org.id) == before


def test_csv_and_xlsx_describe_the_same_people(world):
    """The 1C export and the chair's list hold the same people: after one, the other adds nobody."""
    org = world.school_a2
    import_file(org, CSV_FILE, "a.csv", None)
    db.session.commit()
    result = import_file(org, XLSX_FILE, "b.xlsx", None)
    assert result.imported == 0
    assert [r for _, _, r in result.duplicate_rows].count(IN_THIS_ORG) == 30


def test_person_registered_in_another_organisation_is_not_imported_nor_named(world):
    import_file(world.school_a, CSV_FILE, "a.csv", None)
    db.session.commit()
    before = snapshot(world.school_a.id)
    result = import_file(world.school_b, CSV_FILE, "a.csv", None)
    db.session.commit()
    assert result.imported == 0
    assert [r for _, _, r in result.duplicate_rows].count(IN_OTHER_ORG) == 30
    assert all(world.school_a.name not in r and str(world.school_a) not in r for _, _, r in result.duplicate_rows)
    assert count(Member, Member.org_id == world.school_b.id) == 1
    assert snapshot(world.school_a.id) == before


def test_former_member_of_this_organisation_is_not_readmitted_by_import(world):
    org = world.school_a2
    m = create_member(org, last_name="Петрова", first_name="Анна", patronymic="Игоревна",
                      birth_date=date(1980, 3, 12), joined_on=date(2005, 9, 1))
    ops.end_membership(None, m, EventKind.LEFT, date(2020, 1, 10))
    db.session.commit()
    result = import_file(org, csv_bytes([row()]), "x.csv", None)
    assert result.imported == 0
    assert "выбыл или исключён" in result.duplicate_rows[0][2]
    db.session.refresh(m)
    assert m.status == MemberStatus.LEFT


def test_dry_run_writes_nothing_but_reports_the_same(world):
    org = world.school_a2
    members, events = count(Member), count(MemberEvent)
    result = import_file(org, XLSX_FILE, "members.xlsx", world.users["primary_chair"], dry_run=True)
    db.session.commit()
    assert (result.rows, result.imported, result.would_import, result.duplicates, len(result.refused)) == (
        40, 0, 30, 2, 8)
    assert (count(Member), count(MemberEvent)) == (members, events)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "member_import_check"))
    assert json.loads(entry.details)["rows"] == 40


def test_one_audit_entry_per_import_with_counts(world):
    chair = world.users["primary_chair"]
    import_file(world.school_a, CSV_FILE, "members-1c-export.csv", chair)
    db.session.commit()
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "member_import")).all()
    assert len(entries) == 1
    details = json.loads(entries[0].details)
    assert (entries[0].actor_id, entries[0].org_id) == (chair.id, world.school_a.id)
    assert (details["rows"], details["imported"], details["duplicates"], details["refused"]) == (40, 30, 2, 8)
    assert count(AuditEntry, AuditEntry.action == "member_create") == 5  # the world's own five, none per row


def test_only_a_primary_accepts_imports(world):
    with pytest.raises(MemberImportError, match="первичную организацию"):
        import_file(world.terr_a, CSV_FILE, "a.csv", None)
    assert count(Member) == 5


# ---- every reason a row is refused ------------------------------------------------------------------------------


@pytest.mark.parametrize("changes,reason", [
    ({"Фамилия": ""}, "нет фамилии"),
    ({"Имя": ""}, "нет имени"),
    ({"Дата рождения": ""}, "нет даты рождения"),
    ({"Пол": ""}, "пол не указан"),
    ({"Должность": ""}, "нет должности"),
    ({"Образование": ""}, "нет образования"),
    ({"Форма уплаты взносов": ""}, "нет формы уплаты взносов"),
    ({"Дата вступления в Профсоюз": ""}, "нет даты вступления в Профсоюз"),
    ({"Категория": ""}, "нет категории"),
    ({"Пол": "жещина"}, "неизвестный пол"),
    ({"Образование": "незаконченное"}, "неизвестное образование"),
    ({"Форма уплаты взносов": "бартер"}, "неизвестная форма уплаты взносов"),
    ({"Категория": "почётный"}, "неизвестная категория"),
    ({"Дата рождения": "31.02.1990"}, "несуществующая дата рождения"),
    ({"Дата рождения": "1990-13-01"}, "несуществующая дата рождения"),
    ({"Дата рождения": "12.03.80"}, "в дате рождения нужен год из четырёх цифр (ДД.ММ.ГГГГ)"),
    ({"Дата рождения": "весной"}, "дата рождения не распознана (нужно ДД.ММ.ГГГГ)"),
    ({"Дата рождения": "05.05.2031"}, "дата рождения в будущем"),
    ({"Дата рождения": "01.01.2020", "Дата вступления в Профсоюз": "01.09.2025"},
     "члену Профсоюза должно быть не меньше 14 лет"),
    ({"Дата вступления в Профсоюз": "30.02.2001"}, "несуществующая дата вступления в Профсоюз"),
    ({"Дата вступления в Профсоюз": "01.01.2099"}, "дата вступления в будущем"),
    ({"Дата вступления в Профсоюз": "01.01.1970"}, "вступила раньше, чем родилась"),
    ({"E-mail": "ivanova@@mail"}, "неверный e-mail"),
    ({"Телефон": "позвонить завучу"}, "неверный номер телефона"),
    ({"Фамилия": "Петрова1"}, "в имени допустимы только буквы, пробел, дефис и апостроф"),
    ({"Имя": "А.", "Отчество": "И."}, "вместо имени и отчества — инициалы: нужны полностью"),
    ({"Должность": "у" * 201}, "слишком длинное значение в поле «Должность» (больше 200 знаков)"),
])
def test_each_refusal_reason(world, changes, reason):
    result = import_file(world.school_a2, csv_bytes([row(**changes)]), "x.csv", None)
    assert result.refused == [(2, result.refused[0][1], reason)]
    assert result.imported == 0


def test_a_row_lists_all_its_problems_but_not_the_ones_that_follow_from_others(world):
    bad = row(**{"Пол": "", "E-mail": "x@", "Дата рождения": "05.05.2031"})
    result = import_file(world.school_a2, csv_bytes([bad]), "x.csv", None)
    # Joined (2005) before a birth in 2031 is implied by the wrong birth date, so it is not listed again.
    assert result.refused[0][2] == "дата рождения в будущем; пол не указан; неверный e-mail"
    assert result.refused[0][1] == "Петрова Анна Игоревна"


def test_values_are_matched_by_title_alias_case_and_yo(world):
    variants = [row(**{"Имя": n, "Пол": g, "Образование": e, "Форма уплаты взносов": d, "Категория": c})
                for n, g, e, d, c in [("Анна", "ж", "ВЫСШЕЕ", "по заявлению", "работник"),
                                      ("Алла", "женский", "среднее специальное", "Наличными", "Работающий"),
                                      ("Юлия", "F", "спо", "безнал", "РАБОТАЮЩИЕ")]]
    result = import_file(world.school_a2, csv_bytes(variants), "x.csv", None)
    assert (result.imported, result.refused) == (3, [])


def test_row_number_counts_blank_lines_and_title_rows(world):
    data = xlsx_bytes([row(), [], row(**{"Имя": "Алла", "Пол": "?"})])
    result = import_file(world.school_a2, data, "x.xlsx", None)
    assert result.rows == 2  # the blank line is not a row of the list
    assert result.refused[0][0] == 6  # title, blank, header, row 4, blank 5, row 6


def test_duplicates_within_file_differ_in_case_spaces_and_yo(world):
    rows = [row(**{"Фамилия": "Семёнова"}), row(**{"Фамилия": "  СЕМЕНОВА "}), row(**{"Фамилия": "семенова"})]
    result = import_file(world.school_a2, csv_bytes(rows), "x.csv", None)
    assert result.imported == 1
    assert [(n, r) for n, _, r in result.duplicate_rows] == [
        (3, "повтор строки 2 (те же ФИО и дата рождения)"), (4, "повтор строки 2 (те же ФИО и дата рождения)")]


# ---- formats ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding,delimiter,bom", [
    ("cp1251", ";", False), ("utf-8", ";", False), ("utf-8", ",", True), ("utf-8", "\t", False),
    ("utf-16", "\t", False),  # Excel's «Текст в Юникоде»
])
def test_csv_encodings_and_delimiters(world, encoding, delimiter, bom):
    # A comma inside a value shows the «;» and tab files are not split on commas.
    rows = [row(**{"Должность": "учитель, классный руководитель" if delimiter != "," else "учитель"}),
            row(**{"Имя": "Ёлка", "Фамилия": "Пётрова"})]
    result = import_file(world.school_a2, csv_bytes(rows, HEADER, delimiter, encoding, bom), "x.csv", None)
    assert (result.imported, result.refused) == (2, [])
    assert db.session.scalar(select(Member).where(Member.first_name == "Ёлка")).last_name == "Пётрова"


def test_full_name_column_with_and_without_patronymic(world):
    header = ["ФИО", "Дата рождения", "Пол", "Должность", "Образование", "Форма уплаты взносов",
              "Дата вступления в Профсоюз", "Категория"]
    tail = ["учитель", "высшее", "наличная", date(2001, 9, 1), "работающий"]
    data = xlsx_bytes([["Иванов Пётр", date(1975, 1, 2), "М", *tail],
                       ["Мамедов Ильхам Гейдар оглы", "02.01.1976", "М", *tail],
                       ["Кузнецова Анна Петровна", 28000, "Ж", *tail]], header)  # 28000 = Excel serial 28.08.1976
    result = import_file(world.school_a2, data, "x.xlsx", None)
    assert (result.imported, result.refused) == (3, [])
    people = {m.last_name: m for m in db.session.scalars(select(Member).where(Member.org_id == world.school_a2.id))}
    assert (people["Иванов"].first_name, people["Иванов"].patronymic) == ("Пётр", "")
    assert people["Мамедов"].patronymic == "Гейдар оглы"
    assert people["Мамедов"].birth_date == date(1976, 1, 2)
    assert people["Кузнецова"].birth_date == date(1976, 8, 28)


def test_exported_apostrophe_before_a_plus_is_dropped_on_import(world):
    result = import_file(world.school_a2, csv_bytes([row(**{"Телефон": "'+7 (474) 200-00-01"})]), "x.csv", None)
    assert result.imported == 1
    assert db.session.scalar(select(Member.phone).where(Member.last_name == "Петрова")) == "+7 (474) 200-00-01"


# ---- mapping -----------------------------------------------------------------------------------------------------


ODD_HEADER = ["Фамилия", "Имя", "Отчество", "Появился на свет", "Пол", "Должность", "Образование", "Взносы",
              "Дата вступления", "Категория", "Телефон", "Почта для писем"]


def test_unrecognised_column_refuses_rows_until_mapped(world):
    data = csv_bytes([row()], ODD_HEADER)
    plain = import_file(world.school_a2, data, "x.csv", None, dry_run=True)
    assert plain.refused[0][2] == "нет даты рождения"
    assert "Дата рождения" in plain.missing
    mapped = import_file(world.school_a2, data, "x.csv", None, mapping={
        "birth_date": "Появился на свет", "E-mail": 11})
    assert (mapped.imported, mapped.refused) == (1, [])
    assert mapped.mapping["birth_date"] == 3 and mapped.mapping["email"] == 11
    assert db.session.scalar(select(Member.email).where(Member.last_name == "Петрова")) == "petrova@example.ru"


def test_mapping_can_drop_a_column_and_moves_a_column_between_fields(world):
    data = csv_bytes([row(**{"E-mail": "not-an-address"})])
    dropped = import_file(world.school_a2, data, "x.csv", None, dry_run=True, mapping={"email": None})
    assert dropped.refused == [] and "email" not in dropped.mapping
    # Giving the «Отчество» column to «Подразделение» unmaps it from the patronymic.
    moved = import_file(world.school_a2, data, "x.csv", None, dry_run=True,
                        mapping={"department": "Отчество", "email": None})
    assert "patronymic" not in moved.mapping and moved.mapping["department"] == 2


@pytest.mark.parametrize("mapping,message", [
    ({"last_name": None}, "Не выбран столбец с фамилией"),
    ({"birth_date": 99}, "нет столбца № 100"),
    ({"birth_date": "Нет такого"}, "нет столбца «Нет такого»"),
    ({"рост": 1}, "Неизвестное поле «рост»"),
])
def test_mapping_errors(world, mapping, message):
    with pytest.raises(MemberImportError, match=message):
        import_file(world.school_a2, csv_bytes([row()]), "x.csv", None, mapping=mapping)


# ---- files that are not member lists --------------------------------------------------------------------------------


BAD_FILES = {
    "exe renamed .xlsx": (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(200), "Это не таблица"),
    "empty": (b"", "Файл пустой"),
    "blank": (b"  \r\n \r\n", "Файл пустой"),
    "text, not a list": ("Привет! Это просто письмо, а не список.\r\nС уважением.".encode("cp1251"),
                         "не найдена строка с названиями столбцов"),
    "KOI8-R": (csv_bytes([row()], encoding="koi8_r"), "кодировке UTF-8 или Windows-1251"),
    "no header": (csv_bytes([row(), row(**{"Имя": "Алла"})])[len(";".join(HEADER).encode("cp1251")) + 2:],
                  "не найдена строка с названиями столбцов"),
    "old .xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "старой версии Excel"),
    "zip, not xlsx": (None, "архив, а не таблица"),
    "broken xlsx": (None, "файл повреждён"),
    "pdf": (b"%PDF-1.4\n" + bytes(100), "Это PDF"),
}


def _zip(names: dict[str, bytes]) -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, content in names.items():
            z.writestr(name, content)
    return out.getvalue()


def bad_file(key: str) -> bytes:
    data, _ = BAD_FILES[key]
    if key == "zip, not xlsx":
        return _zip({"readme.txt": b"hello"})
    if key == "broken xlsx":
        return _zip({"xl/workbook.xml": b"<not really>", "[Content_Types].xml": b"<oops"})
    return data


@pytest.mark.parametrize("key", BAD_FILES)
def test_bad_files_are_refused_in_russian(world, key):
    with pytest.raises(MemberImportError, match=BAD_FILES[key][1]):
        import_file(world.school_a2, bad_file(key), "members.xlsx", None)


def test_kind_is_decided_by_content_not_name():
    assert detect_kind(XLSX_FILE.read_bytes()) == "xlsx"
    assert detect_kind(CSV_FILE.read_bytes()) == "csv"


# ---- the web flow ----------------------------------------------------------------------------------------------------


def wait_for(client, job_id: int, timeout: float = 60.0) -> dict:
    """Poll the job's JSON status like the progress bar does, until the background run ends."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.remove()  # the test shares the app context with its requests: read fresh rows
        r = client.get(f"/imports/{job_id}/status")
        assert r.status_code == 200
        state = r.get_json()
        if state["finished"]:
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.05)


def upload(client, org, data: bytes, name: str):
    return client.post(f"/orgs/{org.id}/import", data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def job_id_from(response) -> int:
    return int(re.search(r"/imports/(\d+)", response.headers["Location"]).group(1))


def upload_files(app):
    from pathlib import Path

    folder = Path(app.config["UPLOAD_DIR"]) / "imports"
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("path", SAMPLES, ids=["csv", "xlsx"])
def test_chair_web_flow_upload_map_check_confirm(app, client, world, path):
    org = world.school_a
    login(client, world.users["primary_chair"])
    page = client.get(f"/orgs/{org.id}/import")
    assert page.status_code == 200 and "Загрузка списка" in page.get_data(as_text=True)

    r = upload(client, org, path.read_bytes(), path.name)
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    job_id = job_id_from(r)
    stored = upload_files(app)  # the list, and the preview its one reading kept for the mapping page
    assert len(stored) == 2 and re.fullmatch(r"[0-9a-f]{32}\.(csv|xlsx)", stored[0].name)
    assert stored[1].name == stored[0].name + ".json"
    assert path.stem not in stored[0].name

    mapping_page = client.get(f"/imports/{job_id}/mapping")
    text = mapping_page.get_data(as_text=True)
    assert mapping_page.status_code == 200
    assert 'selected value="0"' in text or 'value="0" selected' in text
    form = {k: v for k, v in json.loads(db.session.get(ImportJob, job_id).mapping).items()}
    r = client.post(f"/imports/{job_id}/mapping", data={k: str(v) for k, v in form.items()})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/imports/{job_id}")
    assert wait_for(client, job_id)["status"] == "checked"
    assert count(Member, Member.org_id == org.id) == 1  # the dry run wrote nothing

    report = client.get(f"/imports/{job_id}")
    text = report.get_data(as_text=True)
    assert report.status_code == 200
    assert 'data-count="rows">40<' in text and 'data-count="imported">30<' in text
    assert 'data-count="refused">8<' in text and 'data-count="duplicates">2<' in text
    for name, reason in expected_outcome()["refused"].items():
        assert name.split()[0] in text and reason in text
    assert "Поставить на учёт: 30" in text

    r = client.post(f"/imports/{job_id}/run")
    assert r.status_code == 302
    assert wait_for(client, job_id)["status"] == "done"
    assert count(Member, Member.org_id == org.id) == 31
    done = client.get(f"/imports/{job_id}").get_data(as_text=True)
    assert "Список загружен" in done and 'data-count="imported">30<' in done
    assert upload_files(app) == []  # the list with personal data is deleted once imported

    # Pressing «confirm» again (a double click, the back button) imports nothing twice.
    again = client.post(f"/imports/{job_id}/run", follow_redirects=True)
    assert "уже загружен" in again.get_data(as_text=True)
    assert count(Member, Member.org_id == org.id) == 31
    job = db.session.get(ImportJob, job_id)
    assert (job.status, job.imported, job.duplicates, job.refused) == (ImportStatus.DONE, 30, 2, 8)
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "member_import")).all()
    assert len(entries) == 1
    details = json.loads(entries[0].details)
    assert (details["job_id"], details["via"], details["imported"]) == (job_id, "web", 30)
    assert details["client_address"] == "127.0.0.1" and entries[0].actor_login == "schoolchair"


def test_mapping_correction_on_the_page(app, client, world):
    login(client, world.users["primary_chair"])
    r = upload(client, world.school_a, csv_bytes([row()], ODD_HEADER), "odd.csv")
    job_id = job_id_from(r)
    page = client.get(f"/imports/{job_id}/mapping").get_data(as_text=True)
    assert "Дата рождения" in page and "mapping-missing" in page
    chosen = json.loads(db.session.get(ImportJob, job_id).mapping)
    assert "birth_date" not in chosen
    same_twice = {**{k: str(v) for k, v in chosen.items()}, "birth_date": "0"}
    bad = client.post(f"/imports/{job_id}/mapping", data=same_twice)
    assert bad.status_code == 400 and "выбран сразу для двух полей" in bad.get_data(as_text=True)
    assert db.session.get(ImportJob, job_id).status == ImportStatus.UPLOADED

    fixed = {**{k: str(v) for k, v in chosen.items()}, "birth_date": "3", "email": "11"}
    client.post(f"/imports/{job_id}/mapping", data=fixed)
    assert wait_for(client, job_id)["status"] == "checked"
    client.post(f"/imports/{job_id}/run")
    assert wait_for(client, job_id)["status"] == "done"
    m = db.session.scalar(select(Member).where(Member.org_id == world.school_a.id, Member.last_name == "Петрова"))
    assert (m.birth_date, m.email) == (date(1980, 3, 12), "petrova@example.ru")


@pytest.mark.parametrize("key", ["exe renamed .xlsx", "empty", "KOI8-R", "no header", "text, not a list",
                                 "zip, not xlsx", "old .xls"])
def test_bad_upload_gets_a_russian_400_and_leaves_nothing(app, client, world, key):
    login(client, world.users["primary_chair"])
    r = upload(client, world.school_a, bad_file(key), "members.xlsx")
    assert r.status_code == 400
    assert BAD_FILES[key][1] in r.get_data(as_text=True)
    assert count(ImportJob) == 0 and upload_files(app) == []


def test_upload_without_a_file_and_over_the_size_limit(make_app, world):
    app = make_app(IMPORT_MAX_BYTES=1024)
    client = app.test_client()
    with app.app_context():
        login(client, "schoolchair")
        org_id = world.school_a.id
        r = client.post(f"/orgs/{org_id}/import", data={}, content_type="multipart/form-data")
        assert r.status_code == 400 and "Выберите файл" in r.get_data(as_text=True)
        r = upload(client, world.school_a, CSV_FILE.read_bytes(), "big.csv")
        assert r.status_code == 400 and "Файл больше" in r.get_data(as_text=True)


def test_upload_into_a_territorial_organisation_is_explained(client, world):
    login(client, world.users["territorial_chair"])
    page = client.get(f"/orgs/{world.terr_a.id}/import")
    assert page.status_code == 200 and "первичную" in page.get_data(as_text=True)
    r = upload(client, world.terr_a, CSV_FILE.read_bytes(), "a.csv")
    assert r.status_code == 400 and "первичную" in r.get_data(as_text=True)


def _job(world, org=None) -> ImportJob:
    job = ImportJob(org_id=(org or world.school_a).id, user_id=world.users["primary_chair"].id, filename="a.csv",
                    stored_name="0" * 32 + ".csv", file_kind="csv", status=ImportStatus.CHECKED,
                    report=json.dumps({"rows": 0}))
    db.session.add(job)
    db.session.commit()
    return job


@pytest.mark.parametrize("user,visible", [
    ("primary_chair", True), ("territorial_chair", True), ("regional_chair", True), ("central_admin", True),
    ("other_region_chair", False),
])
def test_job_pages_only_within_scope(client, world, user, visible):
    job = _job(world)
    login(client, world.users[user])
    for method, url in [("get", f"/imports/{job.id}"), ("get", f"/imports/{job.id}/status"),
                        ("get", f"/imports/{job.id}/mapping"), ("post", f"/imports/{job.id}/cancel"),
                        ("post", f"/imports/{job.id}/run")]:
        r = getattr(client, method)(url)
        missing = getattr(client, method)("/imports/999999" + url[len(f"/imports/{job.id}"):])
        if visible:
            assert r.status_code != 404, url
        else:
            assert r.status_code == missing.status_code == 404, url
            assert r.get_data() == missing.get_data()
    if not visible:
        assert db.session.get(ImportJob, job.id).status == ImportStatus.CHECKED


def test_another_schools_chair_cannot_see_the_job(client, world):
    from portal.auth.models import Role
    from tests.conftest import create_user

    job = _job(world)
    neighbour = create_user(world.school_a2, Role.PRIMARY_CHAIR, "neighbour")
    login(client, neighbour)
    assert client.get(f"/imports/{job.id}").status_code == 404
    assert client.get(f"/imports/{job.id}/status").status_code == 404
    assert client.get(f"/orgs/{world.school_a.id}/import").status_code == 404


def test_two_simultaneous_confirmations_start_one_run(world):
    job = _job(world)
    assert claim_job(job, [ImportStatus.CHECKED], "import") is True
    assert claim_job(job, [ImportStatus.CHECKED], "import") is False
    assert job.status == ImportStatus.RUNNING


def test_cancel_deletes_the_file(app, client, world):
    login(client, world.users["primary_chair"])
    job_id = job_id_from(upload(client, world.school_a, CSV_FILE.read_bytes(), "a.csv"))
    assert len(upload_files(app)) == 2  # the list and its preview
    r = client.post(f"/imports/{job_id}/cancel")
    assert r.status_code == 302
    assert upload_files(app) == []
    assert db.session.get(ImportJob, job_id).status == ImportStatus.FAILED


def test_forms_carry_csrf(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        page = client.get("/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
        client.post("/login", data={"login": "schoolchair", "password": "correct-horse-battery",
                                    "csrf_token": token})
        r = upload(client, world.school_a, CSV_FILE.read_bytes(), "a.csv")
        assert r.status_code == 400
        assert count(ImportJob) == 0
        form = client.get(f"/orgs/{world.school_a.id}/import").get_data(as_text=True)
        assert 'name="csrf_token"' in form


# ---- the command line ---------------------------------------------------------------------------------------------


def test_cli_import_dry_run_then_real(app, world):
    runner = app.test_cli_runner()
    org = world.school_a2
    dry = runner.invoke(args=["import-members", str(org.id), str(XLSX_FILE), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "можно загрузить: 30" in dry.output and "строка 6: Алексеева Юлия Викторовна — нет даты рождения" \
        in dry.output
    assert count(Member, Member.org_id == org.id) == 1
    real = runner.invoke(args=["import-members", str(org.id), str(CSV_FILE), "--user", "schoolchair",
                               "--mapping", "Адрес проживания=", "--mapping", "email=13"])
    # schoolchair's scope is school_a, not school_a2
    assert real.exit_code != 0 and "нет права" in real.output
    real = runner.invoke(args=["import-members", str(org.id), str(CSV_FILE), "--user", "terrchair",
                               "--mapping", "Адрес проживания=", "--mapping", "email=13"])
    assert real.exit_code == 0, real.output
    assert "поставлено на учёт: 30" in real.output
    db.session.remove()
    assert count(Member, Member.org_id == org.id) == 31
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "member_import"))
    assert entry.actor_login == "terrchair"


def test_cli_import_refuses_a_bad_file_and_a_non_primary(app, world, tmp_path):
    runner = app.test_cli_runner()
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"MZ" + bytes(100))
    r = runner.invoke(args=["import-members", str(world.school_a.id), str(junk)])
    assert r.exit_code == 1 and "Это не таблица" in r.output
    r = runner.invoke(args=["import-members", str(world.terr_a.id), str(CSV_FILE)])
    assert r.exit_code == 1 and "первичную организацию" in r.output
    assert count(Member) == 5


# ---- the bulk path: many chunks, and text COPY must carry -------------------------------------------------------


def test_an_import_in_many_chunks_reports_progress_after_each_and_the_same_outcome(world, monkeypatch):
    """Chunks of 7 rows: on PostgreSQL each is written in the background while the next is read; every chunk is
    written before progress is reported (the web job commits there), and the outcome is that of one chunk."""
    from portal.registry.imports import importer

    monkeypatch.setattr(importer, "CHUNK_ROWS", 7)
    org = world.school_a2
    seen = []

    def progress(done, total):
        seen.append((done, count(Member, Member.org_id == org.id)))  # the session is usable here

    result = import_file(org, CSV_FILE, CSV_FILE.name, world.users["territorial_chair"], progress=progress)
    db.session.commit()
    assert (result.rows, result.imported, result.duplicates, len(result.refused)) == (40, 30, 2, 8)
    assert [d for d, _ in seen] == sorted({d for d, _ in seen}) and seen[-1] == (40, 31) and len(seen) >= 5
    assert [n for _, n in seen] == sorted(n for _, n in seen)
    assert count(MemberEvent, MemberEvent.to_org_id == org.id, MemberEvent.kind == EventKind.JOINED) == 31
    again = import_file(org, CSV_FILE, CSV_FILE.name, None, progress=progress)
    assert (again.imported, [r for _, _, r in again.duplicate_rows].count(IN_THIS_ORG)) == (0, 30)
    assert [r[0] for r in again.duplicate_rows] == sorted(r[0] for r in again.duplicate_rows)


def test_backslashes_and_a_literal_null_marker_are_stored_as_typed(world):
    """COPY's text format gives a backslash a meaning; the import must store what the file says."""
    department, position = "Кабинет 5\\6", "\\N"
    data = csv_bytes([row(**{"Должность": position}) + [department]], header=[*HEADER, "Подразделение"])
    result = import_file(world.school_a2, data, "x.csv", None)
    db.session.commit()
    assert result.imported == 1, result.refused
    m = db.session.scalar(select(Member).where(Member.org_id == world.school_a2.id, Member.last_name == "Петрова"))
    assert (m.department, m.position) == (department, position)


def test_copy_payload_escapes_what_copy_would_misread():
    """Typed values hold no tab or line break (`_text` collapses them); a backslash is escaped for COPY's text
    format wherever it is, and NULL is written only for a missing actor."""
    from portal.registry.imports import RowReader, _chunk_payload, resolve_mapping

    reader = RowReader(resolve_mapping(HEADER), date.today())
    staged = reader.stage(row(**{"Должность": "учитель\\N\\tмузыки\tи пения", "Телефон": "", "E-mail": ""}))
    payload = _chunk_payload([(staged.person_key, 2, staged)], 7, None)
    line = payload.staged.decode()
    assert line.endswith("\n") and line.count("\n") == 1
    values = line[:-1].split("\t")
    assert len(values) == len(staged) and values[8] == "учитель\\\\N\\\\tмузыки и пения"
    assert payload.event_tails == [f"\tjoined\t{staged.joined_on}\t7\t\t\\N\n"]
    assert payload.member_tails[0].startswith("\t7\tПетрова\tАнна\t")


# ---- the fast path agrees with the full check ------------------------------------------------------------------

ODD_CELLS = {
    "Фамилия": ["Петрова", "ПЕТРОВА", "петрова", "Петрова-Водкина", "Д'Арк", "О'Нил.", "Петрова1", "", "  Петрова  ",
                "Пётрова", "Ан на", "x" * 101, "'=Петрова"],
    "Имя": ["Анна", "А.", "А", "Анна-Мария", "", "Анна.", "ЁЛКА"],
    "Отчество": ["Игоревна", "И.", "", "Гейдар оглы", "игоревна", "И"],
    "Дата рождения": ["12.03.1980", "12.03.80", "31.02.1990", "1980-03-12", "12/3/1980", "", "05.05.2031",
                      "01.01.2020", "01.01.1900", "весной", "12.03.1980 г.", " 12.03.1980 "],
    "Пол": ["Ж", "ж", "женский", "F", "", "жещина"],
    "Должность": ["учитель химии", "", "у" * 200, "у" * 201, "  завуч  "],
    "Образование": ["высшее", "ВЫСШЕЕ", "спо", "", "незаконченное"],
    "Форма уплаты взносов": ["безналичная", "по заявлению", "", "бартер"],
    "Дата вступления в Профсоюз": ["01.09.2005", "01.01.1970", "01.01.2099", "30.02.2001", "", "1.9.2005"],
    "Категория": ["работающий", "", "почётный", "РАБОТАЮЩИЕ"],
    "Телефон": ["+7 (474) 200-00-00", "", "позвонить завучу", "12345", "+7 474 200 00 00 00 00 00",
                "８９００１２３４５６７", "89001234567", "(474)2000000", "+7-474-200-00-00" + "0" * 30],
    "E-mail": ["petrova@example.ru", "", "ivanova@@mail", "x@", "a b@c.d", "a@b.c" + "d" * 200],
}


def _odd_rows(count: int, seed: int):
    import random

    rng = random.Random(seed)
    for _ in range(count):
        values = dict(zip(HEADER, GOOD, strict=True))
        for column in rng.sample(list(ODD_CELLS), rng.randint(0, 3)):
            values[column] = rng.choice(ODD_CELLS[column])
        yield [values[h] for h in HEADER]


@pytest.mark.parametrize("source", ["odd", "csv", "xlsx", "full_name"])
def test_fast_path_takes_only_valid_rows_and_stages_them_as_the_full_check_would(source):
    """`RowReader.stage` (the fast path) must never let through a row `read` refuses, and must store what `read`
    would; the sample files' valid rows all take it."""
    from portal.registry.imports import RowReader, resolve_mapping

    if source == "odd":
        headers, rows = HEADER, list(_odd_rows(3000, 11))
    elif source == "full_name":
        headers = ["ФИО", *HEADER[3:]]
        rows = [[" ".join(r[:3]), *r[3:]] for r in _odd_rows(1000, 12)]
    else:
        sheet = open_sheet(CSV_FILE if source == "csv" else XLSX_FILE)
        headers, rows = sheet.headers, [cells for _, cells in sheet.rows]
    on = date(2026, 12, 1)
    fast_reader, full_reader = RowReader(resolve_mapping(headers), on), RowReader(resolve_mapping(headers), on)
    fast = valid = 0
    for cells in rows:
        for _ in range(2):  # the second time from the caches
            staged = fast_reader.stage(cells)
            data, _name, errors = full_reader.read(cells)
            if staged is not None:
                assert not errors, (cells, errors)
                assert staged == full_reader.staged(data), cells
        fast += staged is not None
        valid += not errors
    assert 0 < fast <= valid
    if source in ("csv", "xlsx"):
        assert fast == valid  # plain rows never need the slow path
    else:
        assert valid - fast < valid / 5  # only what is unusual goes round


# ---- PostgreSQL: chunks that meet people already registered, and two imports at once ------------------------


def _people(count: int, start: int = 0) -> bytes:
    surnames = ["Абрамова", "Белова", "Воронина", "Гусева", "Дроздова", "Ершова", "Жукова", "Зайцева"]
    names = ["Анна", "Вера", "Галина", "Дарья", "Елена", "Жанна", "Зоя", "Инна", "Кира", "Лидия"]
    rows = []
    for i in range(start, start + count):
        birth = date(1960, 1, 1).toordinal() + i
        rows.append(row(**{"Фамилия": surnames[i % 8], "Имя": names[i // 8 % 10],
                           "Дата рождения": date.fromordinal(birth).strftime("%d.%m.%Y")}))
    return csv_bytes(rows)


def test_a_chunk_meeting_registered_people_is_written_again_without_them(world, monkeypatch):
    """On PostgreSQL a chunk's COPY fails as a whole on a known person; its savepoint is rolled back and the chunk
    is written through the staging table, skipping exactly the known people, in the same transaction."""
    from portal.registry.imports import importer

    monkeypatch.setattr(importer, "CHUNK_ROWS", 10)
    first = import_file(world.school_a, _people(15, 0), "a.csv", None)
    assert first.imported == 15
    here = world.school_a2.id
    before = (count(Member, Member.org_id == here), count(MemberEvent, MemberEvent.to_org_id == here))
    mixed = import_file(world.school_a2, _people(30, 5), "b.csv", None)  # rows 5–14 are known elsewhere
    db.session.commit()
    assert (mixed.imported, mixed.duplicates) == (20, 10)
    assert {r[2] for r in mixed.duplicate_rows} == {IN_OTHER_ORG}
    assert (count(Member, Member.org_id == here), count(MemberEvent, MemberEvent.to_org_id == here)) == (
        before[0] + 20, before[1] + 20)


@pytest.mark.postgres
def test_two_imports_of_overlapping_lists_at_once_register_each_person_once(make_app, world, database):
    if database["kind"] != "postgresql":
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL) for concurrent transactions")
    import threading

    from portal.registry import imports
    from portal.registry.models import Organisation

    orgs = [world.school_a.id, world.school_a2.id]
    files = [_people(400, 0), _people(400, 200)]  # 200 people in both
    before = (count(Member), count(MemberEvent, MemberEvent.kind == EventKind.JOINED))
    db.session.commit()
    app2 = make_app()
    barrier = threading.Barrier(2)
    outcomes: list = [None, None]

    def work(i):
        with app2.app_context():
            try:
                org = db.session.get(Organisation, orgs[i])
                barrier.wait()
                result = imports.import_file(org, files[i], f"{i}.csv", None)
                db.session.commit()
                outcomes[i] = (result.imported, result.duplicates)
            except BaseException as e:
                barrier.abort()
                outcomes[i] = repr(e)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(o, tuple) for o in outcomes), outcomes
    assert sum(o[0] for o in outcomes) == 600 and sum(o[1] for o in outcomes) == 200
    db.session.expire_all()
    keys = db.session.scalars(select(Member.person_key)).all()
    assert len(keys) == len(set(keys)) == before[0] + 600
    assert count(MemberEvent, MemberEvent.kind == EventKind.JOINED) == before[1] + 600


def test_responsive_threads_restores_the_interval_after_nested_and_concurrent_uses():
    import sys
    import threading

    from portal.bulk import responsive_threads

    before = sys.getswitchinterval()
    entered, release = threading.Event(), threading.Event()

    def other():
        with responsive_threads():
            entered.set()
            release.wait(5)

    with responsive_threads(0.0002):
        assert sys.getswitchinterval() < before
        t = threading.Thread(target=other)
        t.start()
        assert entered.wait(5)
        with responsive_threads():
            pass
    assert sys.getswitchinterval() < before  # the other thread's import still runs
    release.set()
    t.join()
    assert sys.getswitchinterval() == before

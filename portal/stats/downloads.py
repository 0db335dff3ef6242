"""What a report becomes for people: SVG charts (pygal, rendered on the server), the XLSX and the PDF.

All of them take their numbers from a `Report` (portal.stats.report.compute or a frozen snapshot); nothing here
counts anything. Charts carry no script (pygal's is stripped), so they work as <img> under the strict CSP and as
images in the PDF (WeasyPrint draws SVG itself).
"""

from __future__ import annotations

import base64
import re
from collections import Counter

from openpyxl import Workbook

from portal.i18n import N_
from portal.registry.models import Category, OrgLevel
from portal.spreadsheets import append, save_xlsx
from portal.stats.report import Report, level_figures, percent, sections

CHARTS = ("composition", "levels", "trend")
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)


def _style():
    from pygal.style import Style

    return Style(background="white", plot_background="white", font_family="DejaVu Sans, sans-serif",
                 colors=("#1f5fa8", "#e07b24", "#3a9a4a", "#b03a48", "#7a5aa8", "#888888"))


def _svg(chart) -> str:
    return _SCRIPT.sub("", chart.render(is_unicode=True))


def composition_svg(c: Counter) -> str:
    """Members by category: a pie."""
    import pygal

    chart = pygal.Pie(js=[], disable_xml_declaration=True, width=480, height=320, style=_style(),
                      title="Состав по категориям", inner_radius=0.4)
    for cat in Category:
        chart.add(cat.title, c[f"category:{cat.value}"])
    return _svg(chart)


def levels_svg(report: Report, org_id: int) -> str:
    """Membership level of each child (rolled up): horizontal bars, in per cent."""
    import pygal

    children = report.children(org_id)[:40]
    chart = pygal.HorizontalBar(js=[], disable_xml_declaration=True, width=640,
                                height=max(240, 26 * len(children) + 90), style=_style(), show_legend=False,
                                title="Уровень членства нижестоящих организаций, %", range=(0, 100))
    chart.x_labels = [o.name[:40] for o in children]
    chart.add("%", [level_figures(report.total[o.id])["level"] or 0 for o in children])
    return _svg(chart)


def trend_svg(reports: list[Report], org_id: int) -> str:
    """Members and level across periods (each report one point)."""
    import pygal

    chart = pygal.Bar(js=[], disable_xml_declaration=True, width=640, height=320, style=_style(),
                      title="Члены Профсоюза по периодам")
    chart.x_labels = [r.on.strftime("%d.%m.%Y") for r in reports]
    chart.add("на учёте", [r.total[org_id]["members"] for r in reports])
    chart.add("принято", [r.total[org_id]["joined"] for r in reports])
    chart.add("выбыло", [r.total[org_id]["left"] for r in reports])
    return _svg(chart)


def data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _level_text(value) -> str:
    return "" if value is None else value


def report_xlsx(report: Report) -> bytes:
    """One sheet per level of the subtree, one row per organisation (rolled-up figures), plain numbers; then the
    data problems. Written through the portal's spreadsheet writer (no formula survives)."""
    wb = Workbook()
    wb.remove(wb.active)
    secs = sections()
    keys = [k for _t, rows in secs for k, _title in rows]
    header = ["Организация", "Уровень", *[f"{t}: {title}" for t, rows in secs for _k, title in rows],
              "Уровень членства, %", "Среди работающих, %", "Среди обучающихся, %"]
    for level in report.levels():
        ws = wb.create_sheet(OrgLevel(level).title[:31])
        append(ws, [f"Статистический отчёт на {report.on.strftime('%d.%m.%Y')} "
                    f"(период с {report.since.strftime('%d.%m.%Y')})"])
        append(ws, header)
        for o in sorted((o for o in report.orgs.values() if o.level == level), key=lambda o: o.name):
            c = report.total[o.id]
            lv = level_figures(c)
            append(ws, [o.name, OrgLevel(o.level).title, *[int(c[k]) for k in keys],
                        _level_text(lv["level"]), _level_text(lv["working"]), _level_text(lv["students"])])
    ws = wb.create_sheet("Ошибки в данных")
    append(ws, ["Организация", "Членов на учёте", "Численность работающих (обучающихся)"])
    for p in report.problems:
        append(ws, [p.name, p.members, "не указана" if p.potential is None else p.potential])
    return save_xlsx(wb)


def progress_xlsx(rows: list[dict], title: str) -> bytes:
    """The progress table as shown (sorted and filtered), plain numbers."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Ход работы"
    append(ws, [title])
    append(ws, [h for _k, h in PROGRESS_COLUMNS])
    for r in rows:
        append(ws, [_cell(r[k]) for k, _h in PROGRESS_COLUMNS])
    return save_xlsx(wb)


def _cell(v):
    if v is None:
        return ""
    if hasattr(v, "strftime"):
        return v.strftime("%d.%m.%Y %H:%M")
    return v


PROGRESS_COLUMNS = [
    ("name", N_("Организация")), ("members", N_("Членов")), ("potential", N_("Работающих (обучающихся)")),
    ("level", N_("Уровень членства")), ("consents_signed", N_("Согласия есть")), ("consents_missing", N_("Согласий нет")),
    ("cards_requested", N_("Билеты заказаны")), ("cards_issued", N_("Билеты выданы")),
    ("cards_overdue", N_("Не отправлены > 14 дней")), ("cabinets", N_("Личные кабинеты")),
    ("petitions_open", N_("Ходатайства на рассмотрении")), ("changed_at", N_("Последнее изменение")),
]


def report_pdf(report: Report, compare: Report | None = None) -> bytes:
    """The report as a PDF (WeasyPrint via portal.documents), with its charts."""
    from portal.documents.pdf import render_pdf

    root = report.root_id
    charts = [data_uri(composition_svg(report.total[root]))]
    if report.children(root):
        charts.append(data_uri(levels_svg(report, root)))
    return render_pdf("stats/report.html", report=report, compare=compare, sections=sections(), root=root,
                      levels=level_figures(report.total[root]), charts=charts, percent=percent,
                      children=report.children(root), level_figures=level_figures)

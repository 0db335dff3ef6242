"""Statistics pages: passport analytics, the progress table of a subtree, the statistical report (with frozen
snapshots and two periods side by side), charts and downloads. Thin: numbers come from portal.stats.report.compute
(or a stored snapshot), files from portal.stats.downloads. Access: the registry's permission (view_registry) and the
user's scope — an organisation outside it is a 404 exactly like a missing one."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from forms.stats import FreezeForm
from portal import audit, policy
from portal.clock import today
from portal.extensions import db
from portal.policy import Permission
from portal.registry.models import Organisation, OrgLevel
from portal.stats import downloads
from portal.stats.models import StatSnapshot
from portal.stats.operations import freeze, snapshot_report, snapshots_of
from portal.stats.report import Report, compute, default_date, level_figures, sections

bp = Blueprint("stats", __name__)
policy.staff_only(bp)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _date_arg(name: str, default: date | None) -> date | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        flash(gettext("Дата «%(value)s» не распознана: укажите её в виде ГГГГ-ММ-ДД.", value=raw[:20]), "warning")
        return default


def _org(org_id) -> Organisation:
    return policy.get_org(current_user, org_id)


def _download(data: bytes, mimetype: str, filename: str, *, org_id: int, what: str,
              snapshot_id: int | None = None) -> Response:
    """Send a file; every download of figures is audited (who took which report of which organisation)."""
    audit.record("stats_download", object_type="stat_snapshots" if snapshot_id else "organisations",
                 object_id=snapshot_id or org_id, org_id=org_id, actor=current_user, what=what, filename=filename)
    db.session.commit()
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename={filename}"})


# ---- passport analytics ------------------------------------------------------------------------------------------


@bp.route("/orgs/<org_id>/analytics")
@policy.requires(Permission.VIEW_REGISTRY)
def analytics(org_id):
    """The passport's analytics today: the organisation's figures (rolled up over its subtree for territorial,
    regional and central organisations), levels, data problems with links to the passports."""
    org = _org(org_id)
    report = compute(org, today(), children_only=True)
    return render_template("stats/analytics.html", org=org, report=report, c=report.total[org.id],
                           levels=level_figures(report.total[org.id]), sections=sections(),
                           children=report.children(org.id))


# ---- the progress table ------------------------------------------------------------------------------------------

PROGRESS_SORTS = {k for k, _h in downloads.PROGRESS_COLUMNS}


def progress_rows(org: Organisation, args) -> tuple[list[dict], dict]:
    """Rows of the progress table (children, or every primary of the subtree with all=1), filtered and sorted as
    the query string says: q (name contains), below (level under this per cent), sort, desc."""
    every = args.get("all") == "1" and org.level != OrgLevel.PRIMARY
    report = compute(org, today(), ages=False, children_only=not every)
    targets = report.primaries() if every else report.children(org.id)
    rows = []
    for o in targets:
        c = report.total[o.id]
        rows.append({"id": o.id, "name": o.name, "level_name": o.level, "members": c["members"],
                     "potential": c["level_den"] or None, "level": level_figures(c)["level"],
                     "consents_signed": c["consents_signed"], "consents_missing": c["consents_missing"],
                     "cards_requested": c["cards_requested"], "cards_issued": c["cards_issued"],
                     "cards_overdue": c["cards_overdue"], "cabinets": c["cabinets"],
                     "petitions_open": c["petitions_open"], "changed_at": report.changed_at.get(o.id),
                     "problem": bool(c["problem_orgs"])})
    q = (args.get("q") or "").strip().lower()
    if q:
        rows = [r for r in rows if q in r["name"].lower()]
    below = args.get("below", "").strip()
    if below.replace(".", "", 1).isdigit():
        rows = [r for r in rows if r["level"] is None or r["level"] < float(below)]
    sort = args.get("sort") if args.get("sort") in PROGRESS_SORTS else "name"
    desc = args.get("desc") == "1"

    def key(r):
        v = r[sort]
        if sort == "changed_at" and v is not None:
            v = v.isoformat()
        return (v is None, v if v is not None else 0)

    rows.sort(key=key, reverse=desc)
    if desc:  # empty values last either way
        rows.sort(key=lambda r: r[sort] is None)
    return rows, {"every": every, "sort": sort, "desc": desc, "q": args.get("q", ""), "below": below}


@bp.route("/orgs/<org_id>/progress")
@policy.requires(Permission.VIEW_REGISTRY)
def progress(org_id):
    """The progress table of a subtree: one row per child (or per primary with all=1), sortable and filterable,
    each row opening that organisation; who is behind on members, consents, cards, cabinets and petitions."""
    org = _org(org_id)
    rows, state = progress_rows(org, request.args)
    return render_template("stats/progress.html", org=org, rows=rows, state=state,
                           columns=downloads.PROGRESS_COLUMNS, args=request.args)


@bp.route("/orgs/<org_id>/progress.xlsx")
@policy.requires(Permission.VIEW_REGISTRY)
def progress_xlsx(org_id):
    """The progress table as shown (same sort and filter) as XLSX."""
    org = _org(org_id)
    rows, _state = progress_rows(org, request.args)
    data = downloads.progress_xlsx(rows, gettext("Ход работы: %(org)s, на %(on)s", org=org.name,
                                                 on=today().strftime("%d.%m.%Y")))
    return _download(data, XLSX, f"progress-{org.id}.xlsx", org_id=org.id, what="progress")


# ---- the statistical report --------------------------------------------------------------------------------------


def _reports(org: Organisation) -> tuple[Report, Report | None]:
    on = _date_arg("on", default_date())
    compare_on = _date_arg("compare", None)
    return compute(org, on), (compute(org, compare_on) if compare_on else None)


@bp.route("/orgs/<org_id>/report")
@policy.requires(Permission.VIEW_REGISTRY)
def report(org_id):
    """The statistical report as of a date (default 1 January), optionally beside a second date; freezable."""
    org = _org(org_id)
    rep, compare = _reports(org)
    form = FreezeForm(on=rep.on)
    return render_template("stats/report.html", org=org, report=rep, compare=compare, sections=sections(),
                           form=form, snapshots=snapshots_of(org), snapshot=None, level_figures=level_figures,
                           chart_args={"on": rep.on.isoformat(), **({"compare": compare.on.isoformat()}
                                                                    if compare else {})})


@bp.route("/orgs/<org_id>/report/freeze", methods=["POST"])
@policy.requires(Permission.VIEW_REGISTRY)
def report_freeze(org_id):
    """Freeze the report of a date as a snapshot (stored rows; who and when)."""
    org = _org(org_id)
    form = FreezeForm()
    if not form.validate_on_submit():
        rep = compute(org, form.on.data or default_date())
        return render_template("stats/report.html", org=org, report=rep, compare=None, sections=sections(),
                               form=form, snapshots=snapshots_of(org), snapshot=None, level_figures=level_figures,
                               chart_args={"on": rep.on.isoformat()}), 200
    snap = freeze(current_user, org, form.on.data, form.title.data or "")
    db.session.commit()
    flash(gettext("Отчёт зафиксирован: дальнейшие изменения реестра его не изменят."), "success")
    return redirect(url_for("stats.snapshot", snapshot_id=snap.id))


@bp.route("/orgs/<org_id>/report.<fmt>")
@policy.requires(Permission.VIEW_REGISTRY)
def report_file(org_id, fmt):
    """The report (and the second date, if any) as XLSX (one sheet per level) or PDF."""
    org = _org(org_id)
    if fmt not in ("xlsx", "pdf"):
        abort(404)
    rep, compare = _reports(org)
    name = f"report-{org.id}-{rep.on.isoformat()}"
    if fmt == "xlsx":
        return _download(downloads.report_xlsx(rep), XLSX, name + ".xlsx", org_id=org.id, what="report")
    return _download(downloads.report_pdf(rep, compare), "application/pdf", name + ".pdf", org_id=org.id,
                     what="report")


@bp.route("/orgs/<org_id>/charts/<name>.svg")
@policy.requires(Permission.VIEW_REGISTRY)
def chart(org_id, name):
    """A chart of the report as SVG (no script), for <img> on the pages."""
    org = _org(org_id)
    if name not in downloads.CHARTS:
        abort(404)
    on = _date_arg("on", today())
    rep = compute(org, on, children_only=name != "trend")  # the charts show the root and its children only
    if name == "composition":
        svg = downloads.composition_svg(rep.total[org.id])
    elif name == "levels":
        svg = downloads.levels_svg(rep, org.id)
    else:
        compare_on = _date_arg("compare", None)
        reports = sorted([rep] + ([compute(org, compare_on)] if compare_on else []), key=lambda r: r.on)
        svg = downloads.trend_svg(reports, org.id)
    return Response(svg, mimetype="image/svg+xml")


# ---- frozen snapshots --------------------------------------------------------------------------------------------


def _snapshot(snapshot_id) -> StatSnapshot:
    return policy.get_scoped(current_user, StatSnapshot, snapshot_id,
                             lambda s: db.session.get(Organisation, s.org_id))


@bp.route("/stats/snapshots/<snapshot_id>")
@policy.requires(Permission.VIEW_REGISTRY)
def snapshot(snapshot_id):
    """A frozen report exactly as stored, beside the same report computed today (the difference shown)."""
    snap = _snapshot(snapshot_id)
    org = db.session.get(Organisation, snap.org_id)
    frozen = snapshot_report(snap)
    current = compute(org, snap.on_date)
    return render_template("stats/report.html", org=org, report=frozen, compare=current, sections=sections(),
                           form=FreezeForm(on=snap.on_date), snapshots=snapshots_of(org), snapshot=snap,
                           level_figures=level_figures, chart_args={"on": snap.on_date.isoformat()})


@bp.route("/stats/snapshots/<snapshot_id>.<fmt>")
@policy.requires(Permission.VIEW_REGISTRY)
def snapshot_file(snapshot_id, fmt):
    """A frozen report as XLSX or PDF (its stored numbers)."""
    snap = _snapshot(snapshot_id)
    if fmt not in ("xlsx", "pdf"):
        abort(404)
    frozen = snapshot_report(snap)
    name = f"snapshot-{snap.id}"
    kept = {"org_id": snap.org_id, "what": "snapshot", "snapshot_id": snap.id}
    if fmt == "xlsx":
        return _download(downloads.report_xlsx(frozen), XLSX, name + ".xlsx", **kept)
    return _download(downloads.report_pdf(frozen), "application/pdf", name + ".pdf", **kept)

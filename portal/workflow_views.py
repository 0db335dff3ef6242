"""Staff pages about the workflows themselves: each machine's diagram, states and transitions."""

from flask import Blueprint, Response, abort, render_template
from flask_babel import gettext
from flask_login import current_user, login_required

from portal import policy
from portal.auth.models import Role
from workflows import ALL
from workflows.diagram import svg

bp = Blueprint("workflow", __name__)


@bp.before_request
@login_required
def _require_login():
    return None


def _workflow(name: str):
    wf = ALL.get(name)
    if wf is None or not policy.has_permission(current_user, policy.Permission.VIEW_REGISTRY):
        abort(404)
    return wf


@bp.route("/workflows/<name>")
@policy.requires(policy.Permission.VIEW_REGISTRY)
def diagram(name: str):
    """The workflow's diagram with every state and transition described, and who may fire each."""
    wf = _workflow(name)
    roles = {r.value: r.label for r in Role}
    roles["system"] = gettext("система (задание по расписанию)")
    return render_template("workflow/diagram.html", wf=wf, roles=roles)


@bp.route("/workflows/<name>.svg")
@policy.requires(policy.Permission.VIEW_REGISTRY)
def diagram_svg(name: str):
    return Response(svg(_workflow(name)), mimetype="image/svg+xml",
                    headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})

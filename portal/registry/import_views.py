"""Import of member lists and export of the members a chair can see (pages)."""

from flask import Blueprint, abort
from flask_login import current_user, login_required

from portal import policy

bp = Blueprint("imports", __name__)


@bp.before_request
@login_required
def _require_login():
    return None


@bp.route("/orgs/<org_id>/import", methods=["GET", "POST"])
def upload(org_id):
    """Upload a member list (XLSX or CSV)."""
    policy.get_org(current_user, org_id)
    abort(404)


@bp.route("/orgs/<org_id>/export.xlsx")
def export(org_id):
    """Download the members the user can see as XLSX."""
    policy.get_org(current_user, org_id)
    abort(404)

"""The packages' layering: `workflows/` depends on nothing of the portal, and no module reaches up into views.

Each check imports a module in a fresh interpreter and lists what got imported with it, so an import cycle (a
guard importing a domain's operations that import the workflows) fails here, not in a later refactoring.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_with(module: str) -> set[str]:
    """The modules a fresh interpreter holds after `import module`."""
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", ["workflows", "workflows.engine", "workflows.aid", "workflows.diagram"])
def test_workflows_import_no_portal_module(module):
    """The engine, the definitions and the aid rules stand below the portal: the portal plugs into them."""
    portal = sorted(m for m in imported_with(module) if m == "portal" or m.startswith("portal."))
    assert portal == [], f"importing {module} imported {portal}"


@pytest.mark.parametrize(("module", "forbidden"), [
    ("portal.i18n", ("portal.auth",)),
    ("portal.registry.imports", ("portal.registry.views", "portal.registry.import_views", "portal.auth.views")),
    ("portal.registry.exports", ("portal.registry.views", "portal.registry.import_views")),
    ("portal.cards.operations", ("portal.registry.imports", "portal.cards.views")),
    ("portal.documents.aid", ("portal.registry.imports", "portal.aid.views")),
    ("portal.spreadsheets", ("portal.registry", "portal.cards", "portal.aid", "portal.consent")),
])
def test_lower_modules_do_not_reach_up(module, forbidden):
    """Helpers live below their users: the language switch does not load the login views, the import does not
    load the pages, the card and aid documents do not load the import."""
    found = sorted(m for m in imported_with(module) for f in forbidden if m == f or m.startswith(f + "."))
    assert found == [], f"importing {module} imported {found}"

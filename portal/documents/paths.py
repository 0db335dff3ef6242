"""Where document templates live, and the only directories WeasyPrint may read from."""

from pathlib import Path

PORTAL_DIR = Path(__file__).resolve().parent.parent
DOC_TEMPLATES = PORTAL_DIR.parent / "doc_templates"
STATIC_DIR = PORTAL_DIR / "static"
ALLOWED_ROOTS = (DOC_TEMPLATES, STATIC_DIR)

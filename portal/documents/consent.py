"""The consent to personal-data processing (152-FZ, SPEC §4), generated from the member card as DOCX and PDF.

The wording is versioned by `portal.consent.models.CONSENT_TEXT_VERSION`, printed in the form's footer; a new
wording needs a new version there and new templates: consent/template.docx (built by doc_templates/build_docx.py)
and consent/template.html + consent/legal.html (the conditions, the same on every page — rendered once per
process and drawn into each page, see portal/documents/pdf.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from io import BytesIO

from jinja2 import Environment, StrictUndefined

from portal.documents.data import consent_common, consent_data
from portal.documents.paths import DOC_TEMPLATES
from portal.documents.pdf import Progress, SharedBlock, batch_pdf, render_shared_block
from portal.registry.models import Member

DOCX_TEMPLATE = DOC_TEMPLATES / "consent" / "template.docx"
HTML_TEMPLATE = "consent/template.html"
BLOCK_TEMPLATE = "consent/block.html"


@lru_cache(maxsize=1)
def _docx_template_bytes() -> bytes:
    return DOCX_TEMPLATE.read_bytes()


def consent_docx(member: Member, on: date | None = None) -> bytes:
    """The consent form of one member as a DOCX (for a chair who edits before printing)."""
    from docxtpl import DocxTemplate

    tpl = DocxTemplate(BytesIO(_docx_template_bytes()))
    # The document XML is the (trusted) template; member data arrives only as values, escaped for XML.
    env = Environment(autoescape=True, undefined=StrictUndefined)
    tpl.render({**consent_common(), **consent_data(member, on)}, jinja_env=env, autoescape=True)
    out = BytesIO()
    tpl.save(out)
    return out.getvalue()


@lru_cache(maxsize=4)
def _conditions_block(operator: str) -> SharedBlock:
    return render_shared_block(BLOCK_TEMPLATE, profcards_operator=operator)


def consent_pdf(member: Member, on: date | None = None) -> bytes:
    """The consent form of one member as a one-page PDF."""
    return consent_batch_pdf([member], on=on)


def consent_batch_pdf(members: Iterable[Member], progress: Progress | None = None, on: date | None = None,
                      workers: int | None = None) -> bytes:
    """One PDF with a consent page per member, in the given order, rendered by worker processes.

    Member data is read here (in the caller's session) into plain dicts; the workers never see ORM objects.
    `progress(done, total)` is called as chunks finish. Raises ValueError for an empty list.
    """
    items = [consent_data(m, on) for m in members]
    common = consent_common()
    block = _conditions_block(common["profcards_operator"])
    kwargs = {"workers": workers} if workers else {}
    return batch_pdf(HTML_TEMPLATE, "consents", items, progress, block=block, **common, **kwargs)

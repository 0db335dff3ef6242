"""The consent to personal-data processing (152-FZ, SPEC §4), generated from the member card as DOCX and PDF.

The wording is versioned by `portal.consent.models.CONSENT_TEXT_VERSION`, printed in the form's footer; a new
wording needs a new version there and new templates: consent/template.docx (built by doc_templates/build_docx.py)
and consent/template.html + consent/conditions.html.

Everything below the member's own data (the operator, the conditions, the signature lines) is the same for all
members of one organisation, so a batch renders it once per organisation and draws it on each member's page
(portal/documents/pdf.py, "shared blocks").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from io import BytesIO

from jinja2 import Environment, StrictUndefined

from portal.documents.data import consent_common, consent_data
from portal.documents.paths import DOC_TEMPLATES
from portal.documents.pdf import Progress, batch_pdf, render_shared_blocks
from portal.registry.models import Member

DOCX_TEMPLATE = DOC_TEMPLATES / "consent" / "template.docx"
HTML_TEMPLATE = "consent/template.html"
BLOCK_TEMPLATE = "consent/block.html"
# An organisation's block is shared from this many of its members in a batch on; below, laying the block out
# once costs about as much as typesetting it on each page.
SHARE_FROM = 2


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


def consent_pdf(member: Member, on: date | None = None) -> bytes:
    """The consent form of one member as a one-page PDF."""
    return consent_batch_pdf([member], on=on)


def _block_key(item: dict) -> tuple:
    """What the shared part of a page depends on."""
    return (tuple((r["label"], r["value"]) for r in item["operator_rows"]), item["form_version"], item["generated_on"])


def consent_batch_pdf(members: Iterable[Member], progress: Progress | None = None, on: date | None = None,
                      workers: int | None = None) -> bytes:
    """One PDF with a consent page per member, in the given order, rendered by worker processes.

    Member data is read here (in the caller's session: load members with their organisation, e.g.
    `selectinload(Member.org)`) into plain dicts; the workers never see ORM objects. `progress(done, total)` is
    called as chunks finish. Raises ValueError for an empty list.
    """
    items = [consent_data(m, on) for m in members]
    common = consent_common()
    counts = Counter(_block_key(item) for item in items)
    shared = [key for key, n in counts.items() if n >= SHARE_FROM]
    blocks = None
    if shared:
        index = {key: k for k, key in enumerate(shared)}
        first = {}
        for item in items:
            first.setdefault(_block_key(item), item)
        blocks = render_shared_blocks(BLOCK_TEMPLATE, blocks=[first[key] for key in shared], **common)
        items = [{**item, "block": index.get(_block_key(item))} for item in items]
    kwargs = {"workers": workers} if workers else {}
    return batch_pdf(HTML_TEMPLATE, "consents", items, progress, blocks=blocks, **common, **kwargs)

"""HTML templates from doc_templates/ rendered to PDF by WeasyPrint: single documents and parallel batches.

Templates are Jinja with autoescape on, so `<`, `&` and `>` in member data print as themselves and never become
markup; WeasyPrint reads only through `safe_url_fetcher`.

Batches are built for speed (a chair prints hundreds of consents at once):

* many records go into *one* HTML document per chunk, a page break between them — WeasyPrint's cost is largely
  per document (~200 ms for a one-page document, a fraction of that per page inside a long one);
* chunks are rendered by worker processes (`ProcessPoolExecutor`, 'fork' where available) that get plain dicts,
  and the chunk PDFs are merged with pypdf in the records' order;
* a **shared block** — text that is the same on every page, like the conditions of the consent — is laid out
  once: the page template leaves an empty slot of the block's height (an element with id `shared-slot-<n>`), and
  the merge draws the block, kept once in the file as a PDF form XObject, into every slot. Typesetting is most of
  WeasyPrint's time, and the shared text is two thirds of a consent page. The result looks the same as rendering
  the block inline (same width, fonts and line breaks); only a text extractor reads the block after the rest of
  the page.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from portal.documents.paths import DOC_TEMPLATES

Progress = Callable[[int, int], None]

# Records per chunk: small enough for a useful progress bar, large enough that WeasyPrint's per-document cost
# stays small (bench/documents.py).
CHUNK = 50
WORKERS = 2
# Below this many records a batch is rendered in the calling process: starting workers would cost more than it saves.
SERIAL_BELOW = 12
PT_PER_PX = 0.75  # WeasyPrint lays out in CSS px and writes PDF points
BLOCK_ID = "shared-block"
SLOT_ID = "shared-slot-{}"
XOBJECT_NAME = "/PortalSharedBlock"


@lru_cache(maxsize=1)
def html_env() -> Environment:
    """The Jinja environment for HTML documents: autoescaped, and an unknown field is an error, not a blank."""
    return Environment(loader=FileSystemLoader(str(DOC_TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def render_html(template: str, **context) -> str:
    """Render doc_templates/<template> (e.g. 'consent/template.html') with plain values."""
    return html_env().get_template(template).render(**context)


def html_document(html: str, template: str):
    """A laid-out WeasyPrint document; relative URLs resolve in the template's folder, through the safe fetcher."""
    from weasyprint import HTML

    from portal.documents.fetcher import safe_url_fetcher

    base = (DOC_TEMPLATES / template).parent.as_uri() + "/"
    return HTML(string=html, base_url=base, url_fetcher=safe_url_fetcher).render()


def html_to_pdf(html: str, template: str) -> bytes:
    """PDF bytes of an HTML string rendered as if it were doc_templates/<template>."""
    return html_document(html, template).write_pdf()


def render_pdf(template: str, **context) -> bytes:
    """Render a template to HTML, then to PDF."""
    return html_to_pdf(render_html(template, **context), template)


# ---- shared blocks --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedBlock:
    """A block rendered once: a one-page PDF with the block at the page's top-left corner, and its height."""

    pdf: bytes
    height: float  # CSS px, the height of the slot to leave for it


def render_shared_block(template: str, **context) -> SharedBlock:
    """Render a template whose only content is the element with id 'shared-block', alone on its page."""
    doc = html_document(render_html(template, **context), template)
    if len(doc.pages) != 1 or BLOCK_ID not in doc.pages[0].anchors:
        raise ValueError(f"{template}: the shared block must be one element with id {BLOCK_ID!r} on one page")
    x1, y1, _x2, y2 = doc.pages[0].anchors[BLOCK_ID]
    if abs(x1) > 0.01 or abs(y1) > 0.01:
        raise ValueError(f"{template}: the shared block must start at the page's top-left corner")
    return SharedBlock(doc.write_pdf(), round(y2 - y1, 4))


Slot = tuple[int, float, float]  # page index in the chunk, x and y of the slot's top-left corner (CSS px)


def render_chunk(template: str, key: str, items: list[dict], block_height: float | None = None,
                 **context) -> tuple[bytes, list[Slot]]:
    """One PDF for many records, all in one HTML document; with a block height, also where each record's slot is.

    Each record dict needs a unique 'seq' when slots are used (the slot's id is shared-slot-<seq>).
    """
    html = render_html(template, **{key: items, "shared_slot": block_height, **context})
    doc = html_document(html, template)
    slots: list[Slot] = []
    if block_height is not None:
        where = {}
        for index, page in enumerate(doc.pages):
            for name, (x1, y1, _x2, _y2) in page.anchors.items():
                where[name] = (index, x1, y1)
        try:
            slots = [where[SLOT_ID.format(item["seq"])] for item in items]
        except KeyError as exc:
            raise ValueError(f"{template}: no slot {exc} for the shared block") from None
    return doc.write_pdf(), slots


def _block_xobject(writer, block: SharedBlock):
    """The block's page as a form XObject in `writer` (added once, drawn on many pages)."""
    from pypdf import PdfReader
    from pypdf.generic import ArrayObject, DecodedStreamObject, FloatObject, NameObject

    page = PdfReader(BytesIO(block.pdf)).pages[0]
    width, height = float(page.mediabox.width), float(page.mediabox.height)
    form = DecodedStreamObject()
    form.set_data(page.get_contents().get_data())
    form.update({
        NameObject("/Type"): NameObject("/XObject"),
        NameObject("/Subtype"): NameObject("/Form"),
        # Clip to the block itself: the rest of its page is empty and must not cover anything below the slot.
        NameObject("/BBox"): ArrayObject([FloatObject(0), FloatObject(height - block.height * PT_PER_PX),
                                          FloatObject(width), FloatObject(height)]),
        NameObject("/Resources"): page["/Resources"].get_object().clone(writer),
    })
    return writer._add_object(form.flate_encode()), height


def _stream(writer, data: bytes):
    from pypdf.generic import DecodedStreamObject

    stream = DecodedStreamObject()
    stream.set_data(data)
    return writer._add_object(stream)


def merge_pdfs(parts: Sequence[tuple[bytes, list[Slot]]], block: SharedBlock | None = None) -> bytes:
    """Concatenate chunk PDFs in order, drawing the shared block into every slot."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject

    if block is None and len(parts) == 1:
        return parts[0][0]
    writer = PdfWriter()
    if block is not None:
        xobject, block_page_height = _block_xobject(writer, block)
        push = _stream(writer, b"q\n")
    for data, slots in parts:
        first = len(writer.pages)
        writer.append(PdfReader(BytesIO(data)), import_outline=False)
        for index, x, y in slots:
            page = writer.pages[first + index]
            resources = page["/Resources"].get_object()  # WeasyPrint shares one dict between a document's pages
            if "/XObject" not in resources:
                resources[NameObject("/XObject")] = DictionaryObject()
            resources["/XObject"].get_object()[NameObject(XOBJECT_NAME)] = xobject
            # The page's own content runs inside q … Q so that the block is drawn in the page's default space.
            tx = x * PT_PER_PX
            ty = float(page.mediabox.height) - y * PT_PER_PX - block_page_height
            draw = _stream(writer, f"Q q 1 0 0 1 {tx:.4f} {ty:.4f} cm {XOBJECT_NAME} Do Q\n".encode())
            contents = page.raw_get("/Contents")
            own = list(contents.get_object()) if isinstance(contents.get_object(), ArrayObject) else [contents]
            page[NameObject("/Contents")] = ArrayObject([push, *own, draw])
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


# ---- batches --------------------------------------------------------------------------------------------------


def _pool_context():
    """'fork' where there is one: the children inherit the imported WeasyPrint and templates (spawn would import them
    again, 1–2.5 s per worker on the target machine) and touch nothing but the plain dicts they are given."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def batch_pdf(template: str, key: str, items: Sequence[dict], progress: Progress | None = None, *,
              block: SharedBlock | None = None, workers: int = WORKERS, chunk: int = CHUNK, **context) -> bytes:
    """One PDF of many records: chunks rendered by `workers` processes, merged in the records' order.

    `progress(done, total)` is called in the caller's thread with the number of records rendered so far: 0 at the
    start, then after every chunk. Small batches are rendered in this process. Raises ValueError if empty.
    """
    total = len(items)
    if total == 0:
        raise ValueError("nothing to render")
    if progress:
        progress(0, total)
    if block is not None:
        items = [{**item, "seq": i} for i, item in enumerate(items)]
    height = block.height if block else None
    workers = 1 if total < SERIAL_BELOW else max(1, min(workers, os.cpu_count() or 1))
    chunk = max(1, min(chunk, -(-total // workers)))  # at least one chunk per worker
    chunks = [list(items[i:i + chunk]) for i in range(0, total, chunk)]
    results: list[tuple[bytes, list[Slot]] | None] = [None] * len(chunks)
    done = 0
    if workers == 1 or len(chunks) == 1:
        for i, part in enumerate(chunks):
            results[i] = render_chunk(template, key, part, height, **context)
            done += len(part)
            if progress:
                progress(done, total)
        return merge_pdfs(results, block)

    import weasyprint  # noqa: F401  (imported before the fork, so the workers start warm)

    html_env()
    with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context()) as pool:
        futures = {pool.submit(render_chunk, template, key, part, height, **context): i
                   for i, part in enumerate(chunks)}
        try:
            for future in as_completed(futures):
                i = futures[future]
                results[i] = future.result()
                done += len(chunks[i])
                if progress:
                    progress(done, total)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return merge_pdfs(results, block)

"""HTML templates from doc_templates/ rendered to PDF by WeasyPrint: single documents and parallel batches.

Templates are Jinja with autoescape on, so `<`, `&` and `>` in member data print as themselves and never become
markup; WeasyPrint reads only through `safe_url_fetcher`.

Batches are built for speed (a chair prints hundreds of consents at once):

* many records go into *one* HTML document per chunk, a page break between them — WeasyPrint's cost is largely
  per document (~200 ms for a one-page document, a fraction of that per page inside a long one);
* chunks are rendered by worker processes (`ProcessPoolExecutor`, 'fork' where available) that get plain dicts,
  and the chunk PDFs are merged with pypdf in the records' order;
* **shared blocks** — text that is the same on many pages, like everything below the member's own data on a
  consent — are laid out once: all of a batch's blocks in one document, one a page; a record's page leaves an
  empty slot of its block's height (an element with id `shared-slot-<seq>`), and the merge draws the block, kept
  once in the file as a PDF form XObject, into the slot. Typesetting is most of WeasyPrint's time, and the shared
  part is two thirds of a consent page. The result looks the same as rendering the block inline (same width,
  fonts and line breaks: tests/test_documents.py compares them); only a text extractor reads the block after the
  rest of the page.
"""

from __future__ import annotations

import gc
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
BLOCK_ID = "shared-block-{}"
SLOT_ID = "shared-slot-{}"
XOBJECT_PREFIX = "/PortalBlock"


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
class SharedBlocks:
    """Blocks rendered once, one a page (each at its page's top-left corner), and the height of each (CSS px)."""

    pdf: bytes
    heights: tuple[float, ...]


def render_shared_blocks(template: str, **context) -> SharedBlocks:
    """Render a template that puts block k, with id 'shared-block-<k>', at the top of page k."""
    doc = html_document(render_html(template, **context), template)
    heights = []
    for k, page in enumerate(doc.pages):
        x1, y1, _x2, y2 = page.anchors.get(BLOCK_ID.format(k), (None, None, None, None))
        if y1 is None or abs(x1) > 0.01 or abs(y1) > 0.01:
            raise ValueError(f"{template}: page {k + 1} must start with the element with id {BLOCK_ID.format(k)!r}")
        heights.append(round(y2 - y1, 4))
    return SharedBlocks(_write_without_anchors(doc), tuple(heights))


def _write_without_anchors(doc) -> bytes:
    """The PDF without named destinations for the ids we only used to find positions (less for pypdf to read)."""
    for page in doc.pages:
        page.anchors.clear()
    return doc.write_pdf()


Slot = tuple[int, float, float, int]  # page index in the chunk, x and y of the slot's top-left corner (px), block


def render_chunk(template: str, key: str, items: list[dict], **context) -> tuple[bytes, list[Slot]]:
    """One PDF for many records, all in one HTML document, and where the slots for shared blocks are.

    A record with a 'block' (an index into the batch's SharedBlocks) has a 'slot' (its height) and a unique 'seq';
    the template leaves an empty element with id shared-slot-<seq> of that height.
    """
    doc = html_document(render_html(template, **{key: items, **context}), template)
    where = {}
    for index, page in enumerate(doc.pages):
        for name, (x1, y1, _x2, _y2) in page.anchors.items():
            where[name] = (index, x1, y1)
    slots: list[Slot] = []
    for item in items:
        if item.get("block") is not None:
            name = SLOT_ID.format(item["seq"])
            if name not in where:
                raise ValueError(f"{template}: no element with id {name!r} for a shared block")
            slots.append((*where[name], item["block"]))
    return _write_without_anchors(doc), slots


class _Stamper:
    """Draws shared blocks into slots of pages of a pypdf writer; each block is added once, as a form XObject."""

    def __init__(self, writer, blocks: SharedBlocks):
        from pypdf import PdfReader

        self.writer, self.blocks = writer, blocks
        self.pages = PdfReader(BytesIO(blocks.pdf)).pages
        self.xobjects: dict[int, tuple] = {}
        self.push = self._stream(b"q\n")

    def _stream(self, data: bytes):
        from pypdf.generic import DecodedStreamObject

        stream = DecodedStreamObject()
        stream.set_data(data)
        return self.writer._add_object(stream)

    def _xobject(self, k: int):
        from pypdf.generic import ArrayObject, DecodedStreamObject, FloatObject, NameObject

        if k not in self.xobjects:
            page = self.pages[k]
            width, height = float(page.mediabox.width), float(page.mediabox.height)
            form = DecodedStreamObject()
            form.set_data(page.get_contents().get_data())
            form.update({
                NameObject("/Type"): NameObject("/XObject"),
                NameObject("/Subtype"): NameObject("/Form"),
                # Clip to the block: the rest of its page is empty and must not cover what follows the slot.
                NameObject("/BBox"): ArrayObject([FloatObject(0), FloatObject(height - self.blocks.heights[k] * PT_PER_PX),
                                                  FloatObject(width), FloatObject(height)]),
                NameObject("/Resources"): page["/Resources"].get_object().clone(self.writer),
            })
            self.xobjects[k] = (self.writer._add_object(form.flate_encode()), height)
        return self.xobjects[k]

    def stamp(self, page, x: float, y: float, k: int) -> None:
        from pypdf.generic import ArrayObject, DictionaryObject, NameObject

        xobject, block_page_height = self._xobject(k)
        name = NameObject(f"{XOBJECT_PREFIX}{k}")
        resources = page["/Resources"].get_object()  # WeasyPrint shares one dict between a document's pages
        if "/XObject" not in resources:
            resources[NameObject("/XObject")] = DictionaryObject()
        resources["/XObject"].get_object()[name] = xobject
        # The page's own content runs inside q … Q, so the block is drawn in the page's default space.
        tx, ty = x * PT_PER_PX, float(page.mediabox.height) - y * PT_PER_PX - block_page_height
        draw = self._stream(f"Q q 1 0 0 1 {tx:.4f} {ty:.4f} cm {name} Do Q\n".encode())
        contents = page.raw_get("/Contents")
        own = list(contents.get_object()) if isinstance(contents.get_object(), ArrayObject) else [contents]
        page[NameObject("/Contents")] = ArrayObject([self.push, *own, draw])


class Merger:
    """Concatenates chunk PDFs in order as they arrive, drawing the shared blocks into their slots."""

    def __init__(self, blocks: SharedBlocks | None = None):
        from pypdf import PdfWriter

        self.writer = PdfWriter()
        self.stamper = _Stamper(self.writer, blocks) if blocks is not None else None
        self.parts = 0
        self.only: bytes | None = None

    def add(self, data: bytes, slots: list[Slot]) -> None:
        from pypdf import PdfReader

        self.parts += 1
        self.only = data if self.parts == 1 and not slots else None
        first = len(self.writer.pages)
        self.writer.append(PdfReader(BytesIO(data)), import_outline=False)
        for index, x, y, k in slots:
            self.stamper.stamp(self.writer.pages[first + index], x, y, k)

    def finish(self) -> bytes:
        if self.only is not None:  # one chunk, nothing to draw: WeasyPrint's file as it is
            return self.only
        out = BytesIO()
        self.writer.write(out)
        return out.getvalue()


def merge_pdfs(parts: Sequence[tuple[bytes, list[Slot]]], blocks: SharedBlocks | None = None) -> bytes:
    """Concatenate chunk PDFs in order, drawing the shared blocks into their slots."""
    merger = Merger(blocks)
    for data, slots in parts:
        merger.add(data, slots)
    return merger.finish()


# ---- batches --------------------------------------------------------------------------------------------------


def _worker_init() -> None:
    """A worker's garbage collector runs once per chunk instead of every few thousand allocations: WeasyPrint
    allocates heavily, and the automatic collections (which would also walk, and so copy, the pages shared with
    the parent) cost a fifth of the rendering time."""
    gc.freeze()
    gc.disable()


def _worker_chunk(template: str, key: str, items: list[dict], **context) -> tuple[bytes, list[Slot]]:
    try:
        return render_chunk(template, key, items, **context)
    finally:
        gc.collect()


def _pool_context():
    """'fork' where there is one: the children inherit the imported WeasyPrint and templates (spawn would import them
    again, 1–2.5 s per worker on the target machine) and touch nothing but the plain dicts they are given."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def batch_pdf(template: str, key: str, items: Sequence[dict], progress: Progress | None = None, *,
              blocks: SharedBlocks | None = None, workers: int = WORKERS, chunk: int = CHUNK, **context) -> bytes:
    """One PDF of many records: chunks rendered by `workers` processes, merged in the records' order.

    A record whose 'block' is set (an index into `blocks`) gets a slot of that block's height, and the block is
    drawn into it; a record without one is rendered whole. `progress(done, total)` is called in the caller's
    thread with the number of records rendered so far: 0 at the start, then after every chunk. Small batches are
    rendered in this process. Raises ValueError if empty.
    """
    total = len(items)
    if total == 0:
        raise ValueError("nothing to render")
    if progress:
        progress(0, total)
    items = [{**item, "seq": i, "slot": blocks.heights[item["block"]] if item.get("block") is not None else None}
             for i, item in enumerate(items)]
    workers = max(1, min(workers, os.cpu_count() or 1))
    if total < SERIAL_BELOW or multiprocessing.current_process().daemon:  # a daemon process may not have children
        workers = 1
    chunk = max(1, min(chunk, -(-total // workers)))  # at least one chunk per worker
    chunks = [list(items[i:i + chunk]) for i in range(0, total, chunk)]
    merger = Merger(blocks)
    done = 0
    if workers == 1 or len(chunks) == 1:
        for part in chunks:
            merger.add(*render_chunk(template, key, part, **context))
            done += len(part)
            if progress:
                progress(done, total)
        return merger.finish()

    import weasyprint  # noqa: F401  (imported before the fork, so the workers start warm)

    html_env()
    results: dict[int, tuple[bytes, list[Slot]]] = {}
    merged = 0
    with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context(), initializer=_worker_init) as pool:
        gc.freeze()  # the workers fork on the first submit: they then share the parent's objects untouched by gc
        try:
            futures = {pool.submit(_worker_chunk, template, key, part, **context): i
                       for i, part in enumerate(chunks)}
        finally:
            gc.unfreeze()
        try:
            for future in as_completed(futures):
                i = futures[future]
                results[i] = future.result()
                done += len(chunks[i])
                if progress:
                    progress(done, total)
                while merged in results:  # merge in order while the workers go on with the next chunks
                    merger.add(*results.pop(merged))
                    merged += 1
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return merger.finish()

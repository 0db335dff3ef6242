"""What an editor may put into a news item: HTML through nh3 (the ammonia sanitiser, kept and maintained, not a
hand-written filter) and images checked by their content with Pillow, re-encoded and resized.

Allowed HTML is the formatting of a news text: paragraphs, emphasis, lists, headings, quotes, tables and links
(http, https, mailto; with rel="noopener noreferrer nofollow"). Scripts, styles, event handlers (`on*`), `style`
attributes, `javascript:` and `data:` URLs, SVG and MathML (with whatever they contain), frames and forms are
removed. Images are not inline HTML: they are uploaded, decoded and re-encoded (which drops EXIF, metadata and any
payload riding along in the file), and served by the portal.
"""

from __future__ import annotations

import html
import re
import secrets
from io import BytesIO

import nh3
from flask_babel import gettext
from PIL import Image, UnidentifiedImageError

from portal.files import FileRejected, store_bytes

TAGS = {"p", "br", "strong", "b", "em", "i", "u", "s", "ul", "ol", "li", "h2", "h3", "h4", "blockquote", "a",
        "table", "thead", "tbody", "tr", "th", "td", "hr"}
ATTRIBUTES = {"a": {"href", "title"}, "th": {"colspan", "rowspan"}, "td": {"colspan", "rowspan"}}
URL_SCHEMES = {"http", "https", "mailto"}
# Removed together with everything inside them (not only the tags).
CONTENT_TAGS = {"script", "style", "svg", "math", "iframe", "object", "embed", "template", "noscript", "textarea",
                "select", "title"}

_BLOCK_END = re.compile(r"(?i)<(br\s*/?|/p|/li|/h[2-4]|/blockquote|/tr|hr\s*/?)>")
_SPACES = re.compile(r"[ \t\u00a0]+")


def sanitise(body: str) -> str:
    """The editor's HTML made safe to show."""
    return nh3.clean(body or "", tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES,
                     clean_content_tags=CONTENT_TAGS, link_rel="noopener noreferrer nofollow",
                     strip_comments=True).strip()


def plain_text(safe_html: str) -> str:
    """The text of (already sanitised) HTML, paragraphs on their own lines: for search, feeds' summaries, mail."""
    marked = _BLOCK_END.sub(lambda m: m.group(0) + "\n", safe_html or "")
    text = html.unescape(nh3.clean(marked, tags=set(), clean_content_tags=CONTENT_TAGS))
    lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


# ---- images -----------------------------------------------------------------------------------------------------

IMAGE_AREA = "news"
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_SIDE = 1600
MAX_PIXELS = 40_000_000  # a decompression bomb is refused before it is decoded
FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}


def store_image(data: bytes) -> tuple[str, str, int, int]:
    """Check, re-encode and store an image; (stored name, mime, width, height). FileRejected (Russian) otherwise."""
    if not data:
        raise FileRejected(gettext("Файл пустой."))
    if len(data) > MAX_IMAGE_BYTES:
        raise FileRejected(gettext("Изображение больше %(mb)s МБ.", mb=MAX_IMAGE_BYTES // (1024 * 1024)))
    try:
        with Image.open(BytesIO(data)) as probe:
            fmt = probe.format
            if fmt not in FORMATS:
                raise FileRejected(gettext("Можно загрузить изображение JPEG, PNG, WebP или GIF."))
            if probe.width * probe.height > MAX_PIXELS:
                raise FileRejected(gettext("Изображение слишком большое по размеру в точках."))
            probe.verify()
        with Image.open(BytesIO(data)) as img:
            img.load()
            img.seek(0)
            has_alpha = img.mode in ("RGBA", "LA", "P") and (img.mode != "P" or "transparency" in img.info)
            img = img.convert("RGBA" if has_alpha else "RGB")
            img.thumbnail((MAX_SIDE, MAX_SIDE))
            out = BytesIO()
            if has_alpha:
                img.save(out, "PNG", optimize=True)
                kind, mime = "png", "image/png"
            else:
                img.save(out, "JPEG", quality=85, optimize=True, progressive=True)
                kind, mime = "jpeg", "image/jpeg"
            width, height = img.size
    except FileRejected:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise FileRejected(gettext("Файл не является изображением (JPEG, PNG, WebP или GIF) или повреждён.")) from err
    name = f"{secrets.token_hex(16)}.{kind}"
    store_bytes(IMAGE_AREA, name, out.getvalue())
    return name, mime, width, height

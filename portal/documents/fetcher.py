"""The only URL fetcher WeasyPrint gets: files inside doc_templates/ and the portal's static directory, and data: URLs.

WeasyPrint fetches every URL it meets in HTML and CSS (images, stylesheets, fonts). A document built from member
data must never make the server read an arbitrary file or call another host (SSRF), so everything else — http(s),
ftp, file: outside the two directories (also through `..` or a symlink), unknown schemes — is refused. A refused
resource is left out of the document with a warning in WeasyPrint's log; rendering goes on.
"""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from weasyprint.urls import URLFetcher, URLFetcherResponse

from portal.documents.paths import ALLOWED_ROOTS

log = logging.getLogger(__name__)


class RefusedURL(ValueError):
    """A URL outside what documents may load."""


class SafeURLFetcher(URLFetcher):
    """A WeasyPrint URL fetcher confined to a few directories (plus inline data: URLs); no network at all."""

    def __init__(self, roots: tuple[Path, ...] = ALLOWED_ROOTS):
        super().__init__(timeout=1, allowed_protocols=("file", "data"), allow_redirects=False)
        self.roots = tuple(Path(r).resolve() for r in roots)

    def fetch(self, url: str, headers=None) -> URLFetcherResponse:
        scheme = urlsplit(url).scheme.lower()
        if scheme == "data":
            return super().fetch(url, headers)  # decoded by urllib's DataHandler, no I/O
        if scheme != "file":
            raise self._refuse(url)
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise self._refuse(url)
        path = Path(url2pathname(unquote(parts.path))).resolve()
        if not path.is_file() or not any(path.is_relative_to(root) for root in self.roots):
            raise self._refuse(url)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(path.as_uri(), path.read_bytes(), {"Content-Type": content_type})

    def _refuse(self, url: str) -> RefusedURL:
        log.warning("document resource refused: %.200s", url)
        return RefusedURL(f"URL not allowed in documents: {url[:200]}")


safe_url_fetcher = SafeURLFetcher()

"""Uploaded and generated files: typed by content, size-limited, stored under random names outside the web root,
served only through authorising views as attachments."""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import current_app, send_file
from flask_babel import gettext

MAGIC = {
    "pdf": (b"%PDF-",),
    "jpeg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
}
MIMETYPES = {"pdf": "application/pdf", "jpeg": "image/jpeg", "png": "image/png",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "csv": "text/csv",
             "json": "application/json",
             "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}
SCAN_KINDS = ("pdf", "jpeg", "png")
MAX_SCAN_BYTES = 10 * 1024 * 1024


class FileRejected(ValueError):
    """The upload is refused; the message is for the user (Russian)."""


def sniff(head: bytes) -> str | None:
    """The file's type by its first bytes (never by its name or the browser's Content-Type)."""
    for kind, signatures in MAGIC.items():
        if any(head.startswith(sig) for sig in signatures):
            return kind
    return None


def storage_dir(area: str) -> Path:
    path = Path(current_app.config["UPLOAD_DIR"]) / area
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_upload(storage, area: str, kinds=SCAN_KINDS, max_bytes: int = MAX_SCAN_BYTES) -> tuple[str, str]:
    """Check and store an uploaded file; returns (stored name, kind). Nothing is left behind on refusal."""
    data = storage.read(max_bytes + 1)
    if not data:
        raise FileRejected(gettext("Файл пустой."))
    if len(data) > max_bytes:
        raise FileRejected(gettext("Файл больше %(mb)s МБ.", mb=max_bytes // (1024 * 1024)))
    kind = sniff(data[:16])
    if kind not in kinds:
        names = ", ".join(k.upper() for k in kinds)
        raise FileRejected(gettext("Можно загрузить только %(kinds)s. Этот файл не похож ни на один из них.",
                                   kinds=names))
    name = f"{secrets.token_hex(16)}.{kind}"
    store_bytes(area, name, data)
    return name, kind


def store_bytes(area: str, name: str, data: bytes) -> Path:
    """Write atomically: a half-written file never appears under its final name."""
    path = storage_dir(area) / name
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def stored_path(area: str, name: str) -> Path:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise FileNotFoundError(name)
    path = storage_dir(area) / name
    if not path.is_file():
        raise FileNotFoundError(name)
    return path


def remove_stored(area: str, name: str) -> None:
    try:
        stored_path(area, name).unlink()
    except FileNotFoundError:
        pass


def send_stored(area: str, name: str, download_name: str):
    """Serve a stored file as an attachment (never inline) with nosniff."""
    path = stored_path(area, name)
    kind = path.suffix.lstrip(".")
    response = send_file(path, mimetype=MIMETYPES.get(kind, "application/octet-stream"), as_attachment=True,
                         download_name=download_name)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def send_bytes(data: bytes, kind: str, download_name: str):
    from io import BytesIO

    response = send_file(BytesIO(data), mimetype=MIMETYPES[kind], as_attachment=True, download_name=download_name)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def send_file_inline_image(area: str, name: str, mimetype: str):
    """Serve a stored, re-encoded image inline (news pictures): only image types, nosniff."""
    if mimetype not in ("image/jpeg", "image/png"):
        raise FileNotFoundError(name)
    path = stored_path(area, name)
    response = send_file(path, mimetype=mimetype, as_attachment=False, max_age=3600)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response

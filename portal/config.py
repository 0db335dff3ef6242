"""Configuration: defaults for the embedded setup, overridden by the environment and by `create_app(overrides)`."""

import os
import secrets
from datetime import timedelta
from pathlib import Path


def _secret_key(instance_path: Path) -> str:
    """SECRET_KEY from the environment, or generated once into instance/secret_key (never in the repo)."""
    env = os.environ.get("SECRET_KEY")
    if env:
        return env
    path = instance_path / "secret_key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def build_config(instance_path: Path) -> dict:
    """The default configuration; SQLite under instance/ unless DATABASE_URL is set."""
    db_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'portal.sqlite3'}"
    if db_url.startswith("postgres://"):
        db_url = "postgresql+psycopg://" + db_url[len("postgres://"):]
    elif db_url.startswith("postgresql://"):
        db_url = "postgresql+psycopg://" + db_url[len("postgresql://"):]
    secure_cookies = os.environ.get("PORTAL_INSECURE_COOKIES") != "1"
    return {
        "SECRET_KEY": _secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": db_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "UPLOAD_DIR": str(instance_path / "uploads"),
        "MAX_CONTENT_LENGTH": 20 * 1024 * 1024,
        # Sessions: staff idle timeout 30 min, absolute limit 12 h (checked in auth). The cookie is written only
        # when the session changes (portal/sessions.py): the idle clock moves at most once a minute, never a
        # cookie on each request (a parallel response would put back an older session, e.g. the old language).
        "PERMANENT_SESSION_LIFETIME": timedelta(minutes=30),
        "SESSION_REFRESH_EACH_REQUEST": False,
        "SESSION_SEEN_GRANULARITY": 60,
        "SESSION_ABSOLUTE_HOURS": 12,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure_cookies,
        "SESSION_COOKIE_NAME": "portal_session",
        "REMEMBER_COOKIE_DURATION": timedelta(0),
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "ru",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Moscow",
        "BOOTSTRAP_SERVE_LOCAL": True,
        "BOOTSTRAP_BOOTSWATCH_THEME": None,
        "PAGE_SIZE": 50,
        # Login throttling: after this many failures per account or per address, a growing delay.
        "LOGIN_FREE_ATTEMPTS": 5,
        "LOGIN_MAX_DELAY_SECONDS": 15 * 60,
        # The third party the consent form names (152-FZ art. 9 part 4): the PROFCARDS programme's operator and
        # its address. Unset address: the form prints a blank line for it.
        "PROFCARDS_OPERATOR": os.environ.get("PROFCARDS_OPERATOR") or "ООО «ФИНФОРТ»",
        "PROFCARDS_OPERATOR_ADDRESS": os.environ.get("PROFCARDS_OPERATOR_ADDRESS", ""),
        # News search: "whoosh" (an index directory per node) or "postgresql" (README «News, search and mailings»).
        "SEARCH_BACKEND": os.environ.get("SEARCH_BACKEND", "whoosh"),
        # Public news pages for anonymous readers from a per-process cache (portal.news.pagecache); 0 turns it off.
        "NEWS_PAGE_CACHE": os.environ.get("NEWS_PAGE_CACHE", "1") != "0",
        "NEWS_PAGE_CACHE_SECONDS": float(os.environ.get("NEWS_PAGE_CACHE_SECONDS") or 60),
        "SEARCH_STALE_CHECK_SECONDS": float(os.environ.get("SEARCH_STALE_CHECK_SECONDS") or 5),
        "SEARCH_REBUILD_PROCS": int(os.environ.get("SEARCH_REBUILD_PROCS") or 1),
        "PORTAL_BASE_URL": os.environ.get("PORTAL_BASE_URL", "http://127.0.0.1:8000"),
    }

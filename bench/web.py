"""A tiny keep-alive HTTP client with a cookie jar, and a gunicorn runner, for timing the real app over HTTP."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
_CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')
_VALUE = re.compile(r'value="([^"]*)"')


class Browser:
    """One user's browser: a persistent connection and the cookies the portal set."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.conn: http.client.HTTPConnection | None = None
        self.cookies: dict[str, str] = {}
        self.reconnects = 0

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        """(status, headers, body bytes); reconnects once if the server closed the kept-alive connection."""
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
                self.reconnects += 1
            h = dict(headers or {})
            if self.cookies:
                h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            try:
                self.conn.request(method, path, body=body, headers=h)
                resp = self.conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest):
                self.close()
                if attempt == 2:
                    raise
                continue
            for key, value in resp.getheaders():
                if key.lower() == "set-cookie":
                    name, _, rest = value.partition("=")
                    cookie = rest.split(";", 1)[0]
                    if cookie and "1970" not in rest:
                        self.cookies[name.strip()] = cookie
                    else:
                        self.cookies.pop(name.strip(), None)
            if (resp.getheader("Connection") or "").lower() == "close":
                self.close()
            return resp.status, resp, data
        raise AssertionError("unreachable")

    def get(self, path: str):
        return self.request("GET", path)

    def login(self, login: str, password: str) -> None:
        """The real login form: GET /login for the CSRF token, POST it with the credentials."""
        status, _, body = self.get("/login")
        if status != 200:
            raise RuntimeError(f"GET /login answered {status}")
        tag = _CSRF.search(body.decode())
        if not tag:
            raise RuntimeError("no csrf_token on the login page")
        token = _VALUE.search(tag.group(0)).group(1)
        form = urlencode({"csrf_token": token, "login": login, "password": password}).encode()
        status, resp, body = self.request("POST", "/login", form,
                                          {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 302:
            raise RuntimeError(f"login of {login} failed: {status} {body[:300]!r}")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """`gunicorn -w 2 --threads 2 wsgi:app` on a free loopback port, with the bench database in DATABASE_URL."""

    def __init__(self, database_url: str, instance_dir: str, log_path: str, workers: int = 2, threads: int = 2):
        self.port = free_port()
        env = {**os.environ, "DATABASE_URL": database_url, "PORTAL_INSECURE_COOKIES": "1",
               "PORTAL_INSTANCE": instance_dir,
               # Both workers must sign sessions with one key (see RESULTS.md on instance/secret_key).
               "SECRET_KEY": os.environ.get("BENCH_SECRET_KEY", "bench-secret-" + os.urandom(8).hex())}
        self.log = open(log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "-w", str(workers), "--threads", str(threads),
             "-b", f"127.0.0.1:{self.port}", "wsgi:app"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}; see {self.log.name}")
            try:
                b = Browser("127.0.0.1", self.port)
                status, _, _ = b.get("/login")
                b.close()
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError("gunicorn did not answer in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

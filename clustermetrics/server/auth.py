"""Projects and API keys.

A key is ``cm_<key id>_<secret>``: the key id (8 hex digits) names the key in listings and in
``keys revoke``; the secret is 32 random bytes (256 bits) from :mod:`secrets`. Only the SHA-256
of the secret is stored (a secret of 256 random bits needs no slow hash: there is nothing to guess
from), in ``keys.sqlite`` under the server's data directory, and it is compared with
:func:`hmac.compare_digest`. SQLite lets ``clustermetrics keys ...`` add or revoke keys while a
server runs: every request reads the key's row, so a revoked key stops working at once.

The server checks keys on a thread of their own (:meth:`Keys.check_async`), never on the pool
that routes, pages and jobs share, so a busy server still tells a key from no key at once; the
database is in WAL mode, so a ``keys create`` in another process never blocks those reads.
The data folder is made 0700 and ``keys.sqlite`` (with its WAL) is 0600: only the server's user
can read the hashes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import AuthenticationError, InvalidInputError, NotFoundError
from ..names import check_name

KEY_PREFIX = "cm_"
_KEY = re.compile(r"^cm_([0-9a-f]{8})_([A-Za-z0-9_-]{20,100})$")


@dataclass(frozen=True)
class Principal:
    """Who a request is: the project its key belongs to and the key's id."""

    project: str
    key_id: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Keys:
    """The projects' API keys, in ``DIR/keys.sqlite``."""

    def __init__(self, data_dir: str):
        private_dir(data_dir)
        self.path = os.path.join(data_dir, "keys.sqlite")
        self._lock = threading.Lock()
        private_file(self.path)
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        with self._lock:  # readers (key checks) never wait for a writer in another process
            self._db.execute("PRAGMA journal_mode=WAL")
        with self._con() as con:
            con.execute("CREATE TABLE IF NOT EXISTS keys (key_id TEXT PRIMARY KEY, "
                        "project TEXT NOT NULL, secret_sha256 TEXT NOT NULL, "
                        "created_at TEXT NOT NULL, revoked_at TEXT)")
        for suffix in ("-wal", "-shm"):  # made by SQLite with the process's umask
            if os.path.exists(self.path + suffix):
                os.chmod(self.path + suffix, 0o600)
        self._checker: ThreadPoolExecutor | None = None

    @contextlib.contextmanager
    def _con(self):
        with self._lock, self._db as con:  # one transaction: committed, or rolled back on error
            yield con

    def create(self, project: str) -> dict:
        """A new key for ``project`` (made if new). The key itself is returned only here."""
        check_name(project, "project name")
        secret = secrets.token_urlsafe(32)
        with self._con() as con:
            while True:
                key_id = secrets.token_hex(4)
                if con.execute("SELECT 1 FROM keys WHERE key_id = ?", [key_id]).fetchone() is None:
                    break
            # one DuckDB file per project: on a case-insensitive disk Acme.duckdb is acme.duckdb
            other = con.execute("SELECT project FROM keys WHERE lower(project) = lower(?) AND "
                                "project <> ? LIMIT 1", [project, project]).fetchone()
            if other is not None:
                raise InvalidInputError(
                    f"Project {project!r} differs from the existing project {other[0]!r} only "
                    f"in case; use {other[0]!r} or another name.")
            created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            con.execute("INSERT INTO keys VALUES (?, ?, ?, ?, NULL)",
                        [key_id, project, _digest(secret), created])
        return {"key_id": key_id, "project": project, "created_at": created,
                "key": f"{KEY_PREFIX}{key_id}_{secret}"}

    def list_keys(self, project: str | None = None) -> list[dict]:
        """Every key (never the secret), oldest first."""
        sql = "SELECT key_id, project, created_at, revoked_at FROM keys"
        args: list = []
        if project is not None:
            sql, args = sql + " WHERE project = ?", [project]
        with self._con() as con:
            rows = con.execute(sql + " ORDER BY rowid", args).fetchall()
        return [{"key_id": k, "project": p, "created_at": c, "revoked_at": r}
                for k, p, c, r in rows]

    def revoke(self, key_id: str) -> dict:
        """Revoke a key by its id (the ``cm_<id>_`` part, or the whole key)."""
        match = _KEY.match(key_id)
        if match:
            key_id = match.group(1)
        with self._con() as con:
            row = con.execute("SELECT revoked_at FROM keys WHERE key_id = ?", [key_id]).fetchone()
            if row is None:
                known = [r[0] for r in con.execute("SELECT key_id FROM keys")]
                raise NotFoundError("key", key_id, known)
            if row[0] is None:
                now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
                con.execute("UPDATE keys SET revoked_at = ? WHERE key_id = ?", [now, key_id])
        return next(k for k in self.list_keys() if k["key_id"] == key_id)

    def projects(self) -> list[str]:
        with self._con() as con:
            return [r[0] for r in con.execute("SELECT DISTINCT project FROM keys ORDER BY 1")]

    def check(self, key: str | None) -> Principal:
        """The project of a valid key; :class:`AuthenticationError` for none, a malformed, an
        unknown, a wrong or a revoked key (one message for all: it tells an attacker nothing)."""
        match = _KEY.match(key or "")
        if not key:
            raise AuthenticationError("An API key is needed: send 'Authorization: Bearer KEY' "
                                      "(clustermetrics keys create --project NAME makes one).")
        if match is None:
            raise AuthenticationError("The API key is not valid (unknown, wrong or revoked).")
        key_id, secret = match.groups()
        with self._con() as con:
            row = con.execute("SELECT project, secret_sha256, revoked_at FROM keys "
                              "WHERE key_id = ?", [key_id]).fetchone()
        stored = row[1] if row else _digest("")  # compare anyway: the same time either way
        same = hmac.compare_digest(_digest(secret), stored)
        if row is None or not same or row[2] is not None:
            raise AuthenticationError("The API key is not valid (unknown, wrong or revoked).")
        return Principal(row[0], key_id)

    async def check_async(self, key: str | None) -> Principal:
        """:meth:`check` on the keys' own thread (the event loop goes on meanwhile)."""
        return await self._on_own_thread(self.check, key)

    async def active_async(self, key_id: str) -> str | None:
        """:meth:`active` on the keys' own thread."""
        return await self._on_own_thread(self.active, key_id)

    async def _on_own_thread(self, fn, arg):
        with self._lock:  # made on first use: a CLI's Keys never starts a thread
            if self._checker is None:
                self._checker = ThreadPoolExecutor(1, thread_name_prefix="clustermetrics-keys")
            checker = self._checker
        return await asyncio.get_running_loop().run_in_executor(checker, fn, arg)

    def active(self, key_id: str) -> str | None:
        """The project of a key that is not revoked (None otherwise): web sessions end when
        their key is revoked."""
        with self._con() as con:
            row = con.execute("SELECT project FROM keys WHERE key_id = ? AND revoked_at IS NULL",
                              [key_id]).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        with self._lock:
            checker, self._checker = self._checker, None
        if checker is not None:
            checker.shutdown(wait=True)
        with self._lock:
            self._db.close()


def private_dir(path: str) -> str:
    """Make the folder ``path`` (and its parents) readable by this user only (0700) if it is
    new; an existing folder is left as it is (it may be shared on purpose)."""
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)  # makedirs' mode is filtered by the umask
    return path


def private_file(path: str) -> str:
    """Make ``path`` an empty file readable by this user only (0600) if it does not exist, and
    take group and other permissions from one that does."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    return path


def bearer(header: str | None) -> str | None:
    """The key of an ``Authorization: Bearer KEY`` header (None when absent)."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationError("Send the key as 'Authorization: Bearer KEY'.")
    return value.strip()


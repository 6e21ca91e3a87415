"""Every failure a user can cause or fix, with its exit code, in one place.

The CLI and the bot catch `NewsqaError` and print `str(err)` as one line; anything
else is a bug and is reported as such.
"""

import os
import re
from collections.abc import Iterator


class NewsqaError(Exception):
    """A failure with a one-line, user-facing message and an exit code."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class BadInput(NewsqaError):
    """The question or an argument is unusable as given (exit 2)."""

    exit_code = 2


class ConfigError(NewsqaError):
    """Configuration is missing or inconsistent (exit 2)."""

    exit_code = 2


class StoreUnavailable(NewsqaError):
    """The Chroma server cannot be reached (exit 3)."""

    exit_code = 3


class IndexCorrupt(NewsqaError):
    """The on-disk index cannot be opened or read (exit 4)."""

    exit_code = 4


class ModelMismatch(NewsqaError):
    """The index was built with another embedding model (exit 5)."""

    exit_code = 5


class ModelUnavailable(NewsqaError):
    """Embedding weights are missing or fail their checksum (exit 6)."""

    exit_code = 6


class LLMError(NewsqaError):
    """The language-model endpoint failed (exit 7); LLM mode falls back to the extractive answer.

    `reason` says why in a few words; `retryable`: worth another attempt (a timeout, 429, 5xx, a malformed
    reply); `retry_after`: seconds the server asked to wait; `attempts`: completions tried before giving up.
    """

    exit_code = 7

    def __init__(self, reason: str, retryable: bool = False, retry_after: float | None = None,
                 exit_code: int | None = None):
        super().__init__(reason, exit_code)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.attempts = 1


class IndexNotWritable(NewsqaError):
    """The index folder or its files can't be written (permissions, read-only mount) (exit 8)."""

    exit_code = 8


class DiskFull(NewsqaError):
    """No space left where the index lives (exit 9)."""

    exit_code = 9


class IndexBusy(NewsqaError):
    """Another process holds the index (its database lock, or the ingest lock) (exit 10)."""

    exit_code = 10


class IndexOutOfStep(IndexCorrupt):
    """The vector store lost what the lexical index still lists (chroma.sqlite3 emptied or replaced) (exit 4)."""


class IndexVersionMismatch(NewsqaError):
    """The index was written by another chromadb version (exit 11)."""

    exit_code = 11


# ---------------------------------------------------------------------------------------------
# Secrets: the one redactor. Everything that is stored (web_state.json, cached pages, article URLs,
# document ids) or shown (messages, notes, --json, logs) passes through `redact_url` or `redact_text`.

# A query or fragment parameter carries a secret when its name contains one of these, or one of the
# words of its name (split at - _ . [) is one of the second set.
_SECRET_IN_NAME = re.compile(r"(?i)token|secret|passw|api-?_?key|apikey|signature|credential|session")
_SECRET_WORDS = frozenset("key auth authorization sig pwd pass code jwt bearer access x-amz-signature".split())


def _secret_name(name: str) -> bool:
    return bool(_SECRET_IN_NAME.search(name)) or any(w in _SECRET_WORDS for w in re.split(r"[-_.\[\]]", name.lower()))


_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_PARAM = re.compile(r"(^|[&;])([^=&;#]*)=([^&;#]*)")
# Credentials in free text: an Authorization header's value, API keys by their well-known shapes, and
# `api_key=…` / "password": "…" pairs.
_TEXT_SECRETS = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 ***"),
    (re.compile(r"(?i)\b(token|bot)\s+(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{16,}"), r"\1 ***"),
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?!bearer\b|basic\b)[^\s,;\"']+"), r"\1***"),
    (re.compile(r"\b(sk|pk|rk)-(?:proj-|live-|test-|ant-)?[A-Za-z0-9_-]{8,}"), r"\1-***"),
    (re.compile(r"\b(?:ghp|gho|ghs|github_pat|xox[abpors]|glpat|hf)_[A-Za-z0-9_-]{8,}"), "***"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "***"),
    (re.compile(r"(?i)([\"']?\b(?:api[-_]?key|access[-_]?token|auth[-_]?token|secret|password|passwd|client[-_]secret)"
                r"[\"']?\s*[:=]\s*[\"']?)[^\s,;&\"'}]+"), r"\1***"),
]
_REDACTED = "***"
_KNOWN: set[str] = set()  # secret values from the settings (keys, tokens), redacted wherever they appear


def register_secret(value: str | None) -> None:
    """A configured secret (an API key, a bot token): `redact_text` hides it wherever it appears, whatever
    its shape. Values shorter than 6 characters are too likely to occur by chance and are not registered."""
    if value and len(value.strip()) >= 6:
        _KNOWN.add(value.strip())


def _redact_params(part: str) -> str:
    return _PARAM.sub(lambda m: m.group(1) + m.group(2) + "=" + (_REDACTED if _secret_name(m.group(2))
                                                                  and m.group(3) else m.group(3)), part)


def redact_url(url: str | None) -> str:
    """`url` safe to store or print: user info (user:password@) and the values of secret-looking query and
    fragment parameters (`?token=`, `&api_key=`, `#access_token=`) become ***; the rest is left as written.

    Anything that doesn't parse as a URL gets a conservative `user:pass@` scrub.
    """
    if not url:
        return url or ""
    from urllib.parse import urlsplit, urlunsplit

    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return _redact_params(re.sub(r"//[^/@\s]*@", f"//{_REDACTED}@", text))
    netloc = parts.netloc
    if "@" in netloc:
        netloc = _REDACTED + "@" + netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, netloc, parts.path, _redact_params(parts.query), _redact_params(parts.fragment)))


def redact_text(text: str) -> str:
    """Free text (an exception message, an endpoint's error body, a note) with every URL passed through
    `redact_url`, and credentials in it (bearer tokens, API keys, configured secrets) replaced by ***."""
    out = str(text)
    for secret in sorted(_KNOWN, key=len, reverse=True):
        out = out.replace(secret, _REDACTED)
    out = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), out)
    for pattern, repl in _TEXT_SECRETS:
        out = pattern.sub(repl, out)
    return out


# ---------------------------------------------------------------------------------------------
# what went wrong with the on-disk index

_READONLY = re.compile(r"readonly database|read-only file system|permission denied|access is denied|"
                       r"\(code: 8\)|unable to open database file|\(code: 14\)|operation not permitted", re.I)
_FULL = re.compile(r"disk is full|no space left|\(code: 13\)|disk quota exceeded", re.I)
_LOCKED = re.compile(r"database is locked|database table is locked|\(code: [56]\)|resource temporarily unavailable",
                     re.I)
_VERSION = re.compile(r"inconsistent hash|inconsistent migration|unapplied migrations|migrations have not been|"
                      r"deprecated configuration|versionmismatch|version mismatch|no such table|no such column|"
                      r"unsupported file format", re.I)


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _short_reason(exc: BaseException) -> str:
    text = " ".join(redact_text(str(exc)).split())
    text = re.sub(r"^(?:query error: )?(?:database error: )?(?:error returned from database: )?", "", text, flags=re.I)
    return (text[:157] + "…") if len(text) > 160 else text


def data_dir_problem(data_dir: str | os.PathLike[str], create: bool = True) -> NewsqaError | None:
    """What makes `data_dir` unusable for an index, said plainly, or None: a file where a folder should be
    (the data dir itself, its `chroma` folder or a parent), a place where folders can't be made (/proc), or
    no permission to read it or to create it. `create`: the command would create the folder if missing."""
    from pathlib import Path

    target = Path(data_dir)
    kind = _kind(target)
    if kind == "denied":
        return IndexNotWritable(f"no permission to read the data dir {target}: {_who_may(_nearest(target))}; fix "
                                "the permissions or set NEWSQA_DATA_DIR (or --data-dir) to another folder (don't reset)")
    if kind == "file":
        return ConfigError(f"the data dir {target} is a file, not a folder; set NEWSQA_DATA_DIR (or --data-dir) to a "
                           "folder, or move the file away")
    if kind == "loop" or kind == "broken":
        return ConfigError(f"the data dir {target} is a {'symbolic link loop' if kind == 'loop' else 'broken symbolic link'}"
                           "; fix the link or set NEWSQA_DATA_DIR (or --data-dir) to another folder")
    if kind == "missing":
        existing = _nearest(target)
        if _kind(existing) != "dir":
            return ConfigError(f"the data dir {target} can't be created: {existing} is a file, not a folder; set "
                               "NEWSQA_DATA_DIR (or --data-dir) to a folder")
        if not create:
            return None
        if _pseudo_fs(existing):
            return ConfigError(f"the data dir {target} can't be created: {existing} is a virtual file system "
                               "(like /proc or /sys) that holds no folders of ours; set NEWSQA_DATA_DIR (or "
                               "--data-dir) to a folder on a disk")
        if not os.access(existing, os.W_OK | os.X_OK):
            return IndexNotWritable(f"no permission to create the data dir {target}: {_who_may(existing)}; set "
                                    "NEWSQA_DATA_DIR (or --data-dir) to a folder you can write, or fix the permissions")
        return None
    if not os.access(target, os.R_OK | os.X_OK):
        return IndexNotWritable(f"no permission to read the data dir {target}: {_who_may(target)}; fix its "
                                "permissions or set NEWSQA_DATA_DIR (or --data-dir) to another folder (don't reset)")
    chroma = target / "chroma"
    sub = _kind(chroma)
    if sub == "file":
        return ConfigError(f"the index folder {chroma} is a file, not a folder; move it away (or set NEWSQA_DATA_DIR "
                           "to another folder)")
    if sub == "denied" or (sub == "dir" and not os.access(chroma, os.R_OK | os.X_OK)):
        return IndexNotWritable(f"no permission to read the index folder {chroma}: {_who_may(chroma)}; fix its "
                                "permissions (don't reset)")
    return None


def _kind(path: str | os.PathLike[str]) -> str:
    """"dir", "file", "missing", "broken" (a dangling link), "loop" or "denied", without raising."""
    import errno as _errno
    import stat

    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "broken" if os.path.islink(path) else "missing"
    except PermissionError:
        return "denied"
    except OSError as exc:
        if exc.errno == _errno.ELOOP:
            return "loop"
        if exc.errno == _errno.ENOTDIR:
            return "missing"  # a parent is a file: _nearest finds it
        return "denied" if exc.errno in (_errno.EACCES, _errno.EPERM) else "missing"
    return "dir" if stat.S_ISDIR(st.st_mode) else "file"


def _nearest(path: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """The nearest ancestor of `path` (or itself) that exists, or whose parent can't be read."""
    from pathlib import Path

    p = Path(path)
    while _kind(p) == "missing" and p != p.parent:
        p = p.parent
    return p


def _pseudo_fs(folder: str | os.PathLike[str]) -> bool:
    """A file system with no blocks at all (procfs, sysfs): nothing can be stored there."""
    try:
        return os.statvfs(folder).f_blocks == 0
    except (OSError, AttributeError):
        return False


def _who_may(path: str | os.PathLike[str]) -> str:
    """"/x is owned by uid 0 with mode 0o700 (you are uid 1000)": why the permission check failed."""
    try:
        st = os.stat(path)
        me = os.geteuid() if hasattr(os, "geteuid") else "?"
        return f"{path} is owned by uid {st.st_uid} with mode {oct(st.st_mode & 0o777)} (you are uid {me})"
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"


def diagnose_store_error(exc: BaseException, index_dir: str | os.PathLike[str]) -> NewsqaError:
    """The user-facing error for an exception raised while opening, reading or writing the embedded index.

    Only real damage suggests `newsqa reset`: a read-only folder, a full disk, a lock held by another
    process or an index from another chromadb version are fixed without losing the index.
    """
    import errno as _errno

    if isinstance(exc, NewsqaError):
        return exc
    from pathlib import Path

    # The folder itself first: a file where a folder should be, /proc, no permission. These were reported
    # as damage ("reset"), or as a full disk.
    chain = list(_chain(exc))
    codes = {getattr(e, "errno", None) for e in chain} - {None}
    index = Path(index_dir)
    path_errors = {_errno.ENOENT, _errno.ENOTDIR, _errno.EACCES, _errno.EPERM, _errno.EEXIST, _errno.EISDIR}
    problem = data_dir_problem(index.parent if index.name == "chroma" else index, create=bool(codes & path_errors))
    if problem is not None:
        return problem
    text = " | ".join(f"{type(e).__name__}: {e}" for e in chain)
    names = {type(e).__name__ for e in chain}
    where = f"the index at {index_dir}"
    why = _short_reason(chain[-1] if len(chain) > 1 and not str(exc).strip() else exc) or type(exc).__name__

    if codes & {_errno.ENOSPC, getattr(_errno, "EDQUOT", -1)} or _FULL.search(text):
        return DiskFull(f"{where} can't be written: the disk is full ({why}); free some space and run the "
                        "command again (the index is not damaged)")
    if (codes & {_errno.EACCES, _errno.EPERM, _errno.EROFS} or "PermissionError" in names
            or _READONLY.search(text)):
        return IndexNotWritable(f"{where} is not writable ({why}); check the permissions of that folder and its "
                                "files (or the mount), or set NEWSQA_DATA_DIR to a writable folder")
    if codes & {_errno.EAGAIN, _errno.EWOULDBLOCK} or _LOCKED.search(text):
        return IndexBusy(f"{where} is locked by another process ({why}); wait for it to finish (e.g. another "
                         "`newsqa ingest`) and run the command again")
    if "VersionMismatchError" in names or _VERSION.search(text):
        return IndexVersionMismatch(f"{where} was written by another chromadb version than the installed "
                                    f"{_chroma_version()} ({why}); install the version that built it, or rebuild "
                                    "it with `newsqa ingest --rebuild PATH`")
    # chromadb doesn't always say why a write failed ("Error in compaction: Failed to apply logs …"
    # on a full disk): look at the folder itself before calling the index damaged.
    state = _folder_state(index_dir)
    if state == "full":
        return DiskFull(f"{where} can't be written: the disk is full ({why}); free some space and run the "
                        "command again (the index is not damaged)")
    if state == "readonly":
        return IndexNotWritable(f"{where} is not writable ({why}); check the permissions of that folder and its "
                                "files (or the mount), or set NEWSQA_DATA_DIR to a writable folder")
    return IndexCorrupt(f"{where} is damaged ({why}); run `newsqa reset` and ingest again")


FULL_BELOW_BYTES = 1 << 20  # less free space than this where the index lives counts as a full disk


def _folder_state(index_dir: str | os.PathLike[str]) -> str:
    """"full", "readonly" or "ok" for the folder holding the index (its nearest existing ancestor)."""
    import os
    from pathlib import Path

    folder = Path(index_dir)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return "ok"
    if st.f_blocks == 0:  # procfs, sysfs: no space to speak of, and not full either
        return "ok"
    if st.f_flag & getattr(os, "ST_RDONLY", 1) or not os.access(folder, os.W_OK):
        return "readonly"
    if st.f_bavail * st.f_frsize < FULL_BELOW_BYTES:
        return "full"
    return "ok"


def _chroma_version() -> str:
    try:
        from importlib.metadata import version

        return version("chromadb")
    except Exception:  # noqa: BLE001
        return "(unknown)"

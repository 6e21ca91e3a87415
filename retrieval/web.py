"""Articles from the web: pages and RSS/Atom feeds, fetched politely and only when they changed.

`load_urls()` returns the same `Loaded` (articles, skipped, counts) as `loading.load_all()`, which hands
it every http(s) argument. A feed ingests the article page of each of its entries; any other URL
is a page whose main text trafilatura extracts.

Fetching is conditional: each URL's ETag and Last-Modified are kept in `web_state.json` in the
data dir and sent back as If-None-Match / If-Modified-Since, and a 304 means unchanged. The
article extracted from a page is kept in `web_pages/` beside it, so an unchanged page still
yields its article (the ingest then finds it unchanged and embeds nothing), and a page fetched by
a round that was interrupted before it reached the index still goes in next time.

A URL that cannot be used becomes a `Skipped` with a one-line reason (credentials in the URL are
redacted), and the rest of its feed still goes in.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

from .articles import Unusable, make_article
from .config import WebSettings
from .errors import redact_url as redact  # the one redactor: credentials never reach a message or a file
from .types import Article, Loaded, Skipped, WebStats

if TYPE_CHECKING:
    import http.client

STATE_FILE = "web_state.json"
PAGES_DIR = "web_pages"
TOKEN = "newsqa-url:"  # an http(s) argument carried through Path() unmangled (see `argument`)
_URL = re.compile(r"^https?:/", re.I)
_MANGLED = re.compile(r"^(https?):/(?!/)", re.I)  # Path("http://h/x") == Path("http:/h/x")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_FEED_HINTS = ("rss", "atom")
_XML_TYPES = ("application/xml", "text/xml", "application/rdf+xml")


@dataclass
class HostClock:
    """When each host was last asked, and the Crawl-delay its robots.txt asks for: whoever keeps one across
    rounds (an `Index`, so `newsqa watch`) stays polite across them."""

    last_request: dict[str, float] = field(default_factory=dict)
    crawl_delay: dict[str, float] = field(default_factory=dict)  # host -> seconds, from its robots.txt

    def wait(self, host: str, delay: float) -> None:
        """Sleep until `host` may be asked again (`delay`, or its Crawl-delay if longer)."""
        wait = self.last_request.get(host, -1e9) + max(delay, self.crawl_delay.get(host, 0.0)) - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def asked(self, host: str) -> None:
        self.last_request[host] = time.monotonic()


# -- arguments -------------------------------------------------------------------------------
def is_url(arg: str | os.PathLike[str]) -> bool:
    s = str(arg)
    return s.startswith(TOKEN) or bool(_URL.match(s))


def url_of(arg: str | os.PathLike[str]) -> str:
    """The URL an argument stands for: a token from `argument`, a URL, or one Path() mangled."""
    s = str(arg)
    if s.startswith(TOKEN):
        return unquote(s[len(TOKEN):])
    return _MANGLED.sub(lambda m: m.group(1) + "://", s, count=1)


def argument(arg: str) -> Path:
    """A CLI argument as a Path: files as they are, URLs as a token that Path() keeps exactly."""
    return Path(TOKEN + quote(arg, safe="")) if _URL.match(arg) else Path(arg)


def parse_interval(text: str) -> float:
    """'90', '30s', '15m', '1h30m', '1h 30m', '2 hours', '1.5h', '1d' -> seconds (pytimeparse; a bare number
    is seconds)."""
    from pytimeparse.timeparse import timeparse as parse

    from .errors import BadInput

    s = text.strip()
    seconds = float(s) if re.fullmatch(r"\d+(?:\.\d+)?", s) else parse(s) if s else None
    if seconds is None:
        raise BadInput(f"--every takes a duration like 30s, 15m or 1h, not {text!r}")
    if seconds <= 0:
        raise BadInput(f"--every must be more than zero, not {text!r}")
    return float(seconds)


# -- loading ---------------------------------------------------------------------------------
class _Fail(Exception):
    """A URL that cannot be used; the message is the reason shown."""


@dataclass
class _Response:
    status: int
    url: str
    ctype: str = ""
    charset: str = ""
    body: bytes = b""
    etag: str = ""
    last_modified: str = ""


@dataclass
class _Entry:
    link: str
    guid: str = ""
    title: str = ""
    author: str = ""
    date: str = ""


@dataclass
class _Round:
    settings: WebSettings
    state_dir: Path | None  # None: nothing is kept between rounds
    state: dict[str, Any]
    clock: HostClock
    articles: list[Article] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    seen: set[str | tuple[str, str]] = field(default_factory=set)  # normalised URLs and ("guid", guid)
    docs: dict[str, str] = field(default_factory=dict)  # doc id -> the URL that produced it in this round
    robots: dict[str, Any] = field(default_factory=dict)  # scheme://host:port -> RobotFileParser (one per round)
    stats: WebStats = field(default_factory=WebStats)


def load_urls(urls: Iterable[str | os.PathLike[str]], state_dir: Path | str | None = None, *,
              settings: WebSettings | None = None, delay: float | None = None, timeout: float | None = None,
              max_bytes: int | None = None, robots: bool | None = None, clock: HostClock | None = None) -> Loaded:
    """Fetch pages and feeds: their articles, the URLs skipped and why, and what the round fetched.

    `state_dir` keeps each URL's validators and page (the data dir; without one nothing is kept), `settings`
    the fetching knobs (`settings.web`; the keywords override single ones), `clock` the per-host request times.
    """
    urls = list(urls)
    if not urls:
        return Loaded()
    overrides = {k: v for k, v in (("delay", delay), ("timeout", timeout), ("max_bytes", max_bytes),
                                   ("robots", robots)) if v is not None}
    web = settings if settings is not None else WebSettings()
    if overrides:
        web = web.model_copy(update=overrides)
    where = Path(state_dir) if state_dir is not None else None
    rnd = _Round(web, where, _read_state(where), clock if clock is not None else HostClock())
    try:
        for arg in urls:
            url = url_of(arg)
            try:
                key = _normal(url)
                if key in rnd.seen:
                    continue
                rnd.seen.add(key)
                _load_one(rnd, url, allow_feed=True)
            except _Fail as why:
                rnd.skipped.append(Skipped(redact(url), str(why)))
    finally:
        _write_state(rnd.state_dir, rnd.state)
    return Loaded(rnd.articles, rnd.skipped, rnd.stats)


def _load_one(rnd: _Round, url: str, allow_feed: bool, entry: _Entry | None = None, feed: str = "") -> None:
    key = _state_key(url)
    known = rnd.state["urls"].get(key)
    cached = _read_page(rnd.state_dir, key) if known and known.get("kind") == "page" else None
    usable = known and (known.get("kind") == "feed" or cached is not None)
    _check_robots(rnd, url)
    resp = _fetch(rnd.settings, rnd.clock, url, known if usable else None)
    if resp.status == 304 and not usable:
        raise _Fail("HTTP 304 Not Modified to a request that sent no validators")
    if resp.status == 304:
        rnd.stats.not_modified += 1
        if known.get("kind") == "feed":
            _load_entries(rnd, url, [_Entry(**e) for e in known.get("entries", [])], unchanged=True)
        else:
            assert cached is not None  # usable: a page answered 304 only when its copy was read
            _keep(rnd, cached, url)
        return
    rnd.stats.fetched += 1
    validators = {"etag": resp.etag, "last_modified": resp.last_modified}
    if _is_feed(resp):
        if not allow_feed:
            raise _Fail("a feed, not an article page")
        entries, problem = _parse_feed(resp)
        if problem:  # a feed cut short or malformed after some entries: what was read goes in, and why not the rest
            rnd.skipped.append(Skipped(redact(url), problem))
        rnd.state["urls"][key] = {"kind": "feed", **validators, "entries": [asdict(e) for e in entries]}
        _load_entries(rnd, url, entries, unchanged=False)
        return
    art = _page_article(rnd, resp, entry)
    _write_page(rnd.state_dir, key, art)
    rnd.state["urls"][key] = {"kind": "page", **validators, "doc": art.doc}
    _keep(rnd, art, url)


def _load_entries(rnd: _Round, feed_url: str, entries: list[_Entry], unchanged: bool) -> None:
    """Each entry's page once; an unchanged feed's pages come from the cache without a request."""
    for e in entries:
        try:
            key = _normal(e.link)
        except _Fail as why:
            rnd.skipped.append(Skipped(redact(e.link), f"{why} (entry of the feed {redact(feed_url)})"))
            continue
        if key in rnd.seen or (e.guid and ("guid", e.guid) in rnd.seen):
            continue
        rnd.seen.add(key)
        if e.guid:
            rnd.seen.add(("guid", e.guid))
        skey = _state_key(e.link)
        known = rnd.state["urls"].get(skey)
        cached = _read_page(rnd.state_dir, skey) if unchanged and known else None
        if cached is not None:
            rnd.stats.cached += 1
            _keep(rnd, cached, e.link)
            continue
        try:
            _load_one(rnd, e.link, allow_feed=False, entry=e, feed=feed_url)
        except _Fail as why:
            rnd.skipped.append(Skipped(redact(e.link), f"{why} (entry of the feed {redact(feed_url)})"))


def _keep(rnd: _Round, art: Article, url: str) -> None:
    if art.doc in rnd.docs and rnd.docs[art.doc] != _normal(url):
        art.doc = _doc_id(url)  # two URLs claim one canonical URL: keep both, under their own
    rnd.docs[art.doc] = _normal(url)
    rnd.articles.append(art)


# -- robots.txt ------------------------------------------------------------------------------
def _check_robots(rnd: _Round, url: str) -> None:
    """Raise _Fail when the site's robots.txt disallows `url` for newsqa's user agent (urllib.robotparser).

    robots.txt is read once per site per round, with the same timeout, size cap and per-host delay as any
    request. As RFC 9309 says: a robots.txt that is missing (any 4xx) allows everything; one the server
    can't give (5xx) disallows everything for now. A site that can't be reached at all is left to the
    page's own request, which says why."""
    if not rnd.settings.robots:
        return
    from urllib.robotparser import RobotFileParser

    parts = urlsplit(_split_credentials(url)[0])
    site = f"{parts.scheme}://{parts.netloc}"
    if site not in rnd.robots:
        rules: RobotFileParser | str | None = RobotFileParser(site + "/robots.txt")
        try:
            resp = _fetch(rnd.settings, rnd.clock, site + "/robots.txt", None, robots=True)
            assert isinstance(rules, RobotFileParser)
            rules.parse(resp.body.decode("utf-8", "replace").splitlines())
            delay = rules.crawl_delay(rnd.settings.user_agent)
            if delay:
                rnd.clock.crawl_delay[(parts.hostname or "").lower()] = min(float(delay), 60.0)
        except _Fail as why:
            text = str(why)
            if text.startswith("HTTP 5"):
                rules = f"its robots.txt is unavailable ({text}), which disallows everything for now"
            else:
                rules = None  # missing (4xx), not a text file, or the site can't be reached: no rules
        rnd.robots[site] = rules
    rules = rnd.robots[site]
    if isinstance(rules, str):
        raise _Fail(f"not fetched: {rules}; --ignore-robots fetches it anyway (for sites of your own)")
    if rules is not None and not rules.can_fetch(rnd.settings.user_agent, _split_credentials(url)[0]):
        raise _Fail(f"disallowed by {redact(site)}/robots.txt for newsqa; --ignore-robots fetches it anyway "
                    "(for sites of your own)")


# -- HTTP ------------------------------------------------------------------------------------
def _fetch(settings: WebSettings, clock: HostClock, url: str, known: dict[str, Any] | None,
           robots: bool = False) -> _Response:
    import http.client
    import ssl
    import urllib.error
    import urllib.request

    clean, auth = _split_credentials(url)
    headers = {"User-Agent": settings.user_agent, "Accept-Encoding": "identity",
               "Accept": "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,"
                         "application/xml;q=0.9,*/*;q=0.5"}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    if known:
        if known.get("etag"):
            headers["If-None-Match"] = known["etag"]
        if known.get("last_modified"):
            headers["If-Modified-Since"] = known["last_modified"]
    host = (urlsplit(clean).hostname or "").lower()
    clock.wait(host, settings.delay)
    t = settings.timeout
    deadline = time.monotonic() + t  # one deadline for the page: connect, answer, body
    try:
        req = urllib.request.Request(clean, headers=headers)
        try:
            resp = urllib.request.urlopen(req, timeout=t)  # noqa: S310 - http(s) only, checked above
        except urllib.error.HTTPError as exc:
            with exc:
                if exc.code == 304:
                    return _Response(304, clean, etag=exc.headers.get("ETag", "") or (known or {}).get("etag", ""),
                                     last_modified=exc.headers.get("Last-Modified", "")
                                     or (known or {}).get("last_modified", ""))
                raise _Fail(f"HTTP {exc.code} {exc.reason or ''}".strip()) from None
        except urllib.error.URLError as exc:
            raise _Fail(_reason(exc.reason, t)) from None
        except TimeoutError:
            raise _Fail(f"timed out after {t:g} s") from None
        except (http.client.InvalidURL, ValueError) as exc:
            raise _Fail(f"invalid URL ({exc})") from None
        except (http.client.HTTPException, ssl.SSLError, OSError) as exc:
            raise _Fail(_reason(exc, t)) from None
        with resp:
            raw_type = resp.headers.get("Content-Type", "") or ""
            ctype, charset = _content_type(raw_type)
            if robots:
                if ctype and not ctype.startswith("text/"):
                    raise _Fail(f"robots.txt is not text ({ctype})")
            elif ctype and not (_html(ctype) or _feedish(ctype)):
                raise _Fail(f"not an HTML page or a feed ({ctype})")
            length = resp.headers.get("Content-Length")
            limit = settings.max_bytes
            if length and length.isdigit() and int(length) > limit:
                raise _Fail(f"too large ({_size(int(length))} > {_size(limit)})")
            body = _read_capped(resp, limit, t, deadline)
            return _Response(resp.status, resp.geturl(), ctype, charset, body,
                             resp.headers.get("ETag", "") or "", resp.headers.get("Last-Modified", "") or "")
    finally:
        clock.asked(host)


def _read_capped(resp: http.client.HTTPResponse, limit: int, timeout: float, deadline: float) -> bytes:
    """The body as it arrives, never more than `limit` bytes of it, and never past `deadline`: each read
    returns what the socket has (`read1`) and waits at most for the time left, so a page that drips a few
    bytes at a time stops at the deadline, not after its next 64 KB."""
    import http.client

    chunks: list[bytes] = []
    size = 0
    late = f"timed out: the page took over {timeout:g} s to download (NEWSQA_WEB_TIMEOUT)"
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Fail(late)
        _set_read_timeout(resp, left)
        try:
            piece = resp.read1(65536)
        except TimeoutError:
            raise _Fail(late if deadline - time.monotonic() <= 0.05 else f"timed out after {timeout:g} s") from None
        except (http.client.HTTPException, OSError) as exc:
            raise _Fail(f"connection broken while reading ({type(exc).__name__})") from None
        if not piece:
            return b"".join(chunks)
        size += len(piece)
        if size > limit:
            raise _Fail(f"too large (over {_size(limit)})")
        chunks.append(piece)


def _set_read_timeout(resp: http.client.HTTPResponse, seconds: float) -> None:
    """Wait at most `seconds` for the next bytes of the body (the socket under urllib's response)."""
    sock = getattr(getattr(resp.fp, "raw", None), "_sock", None)
    if sock is not None:
        try:
            sock.settimeout(max(seconds, 0.01))
        except OSError:
            pass


def _reason(exc: BaseException | str, timeout: float) -> str:
    import ssl

    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host not found"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({getattr(exc, 'reason', None) or exc})"
    if isinstance(exc, OSError) and exc.strerror:
        return f"connection failed ({exc.strerror})"
    return f"connection failed ({exc})"


def _split_credentials(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, ""
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment)), \
        f"{unquote(user)}:{unquote(password)}"


def _content_type(header: str) -> tuple[str, str]:
    main, _, params = header.partition(";")
    m = re.search(r"charset=[\"']?([\w.:-]+)", params, re.I)
    return main.strip().lower(), (m.group(1) if m else "")


def _html(ctype: str) -> bool:
    return ctype in _HTML_TYPES


def _feedish(ctype: str) -> bool:
    return any(h in ctype for h in _FEED_HINTS) or ctype in _XML_TYPES or ctype.endswith("+xml")


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


# -- feeds -----------------------------------------------------------------------------------
def _is_feed(resp: _Response) -> bool:
    if any(h in resp.ctype for h in _FEED_HINTS):
        return True
    head = resp.body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not resp.ctype and not head.startswith(b"<"):
        raise _Fail("not an HTML page or a feed (no content type, and the body is not markup)")
    if _html(resp.ctype) and not head.startswith((b"<?xml", b"<rss", b"<feed", b"<rdf")):
        return False
    if not resp.ctype and head.startswith((b"<!doctype html", b"<html")):
        return False
    import feedparser

    parsed = feedparser.parse(resp.body, response_headers={"content-location": resp.url})
    if parsed.entries:
        return True
    if _html(resp.ctype) or (not resp.ctype and b"<html" in resp.body[:4096].lower()):
        return False
    error = _feed_error(parsed, resp.body)
    raise _Fail(f"not a readable feed: {error}" if error else f"XML without feed entries ({resp.ctype or 'no content type'})")


def _parse_feed(resp: _Response) -> tuple[list[_Entry], str]:
    """The feed's entries that link to a page, and why some may be missing ("" when none are). A feed that
    yields no entry at all is a `_Fail` saying why: malformed (where), empty, or entries without links."""
    import feedparser

    parsed = feedparser.parse(resp.body, response_headers={"content-location": resp.url,
                                                           "content-type": resp.ctype or "application/xml"})
    error = _feed_error(parsed, resp.body)
    entries = []
    linkless = 0
    for e in parsed.entries:
        guid = str(e.get("id") or "")
        link = str(e.get("link") or (guid if _URL.match(guid) else ""))
        if not link:
            linkless += 1
            continue
        when = e.get("published_parsed") or e.get("updated_parsed")
        entries.append(_Entry(link=urljoin(resp.url, link), guid=guid, title=str(e.get("title") or ""),
                              author=str(e.get("author") or ""),
                              date=time.strftime("%Y-%m-%d", when) if when else ""))
    if not entries:
        if error:
            raise _Fail(f"not a readable feed: {error}" + (f"; the {_n(linkless, 'entry')} read before it "
                                                            "had no link" if linkless else ""))
        if linkless:
            raise _Fail(f"none of the feed's {_n(linkless, 'entry')} links to an article page")
        raise _Fail("the feed has no entries" if resp.body.strip() else "the feed is empty (no body)")
    problem = ""
    if error:
        problem = f"the feed is malformed ({error}): {_n(len(entries), 'entry')} read before that, any after it are missing"
    elif linkless:
        problem = f"{_n(linkless, 'entry')} of the feed had no link to an article page"
    return entries, problem


def _feed_error(parsed: Any, body: bytes) -> str:
    """What is wrong with a feed's XML, with the line it is on, or "" for a readable feed (an encoding
    that had to be guessed is not an error)."""
    if not parsed.get("bozo"):
        return ""
    exc = parsed.get("bozo_exception")
    name = type(exc).__name__
    if "Encoding" in name or "NonXMLContentType" in name:
        return ""
    where = ""
    line = getattr(exc, "getLineNumber", None)
    if callable(line):
        try:
            # feedparser puts an XML declaration before a body without one: its line numbers are one off then.
            n = int(line()) - (0 if body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<?xml") else 1)
            where = f" at line {max(n, 1)}, column {exc.getColumnNumber()}"
        except Exception:  # noqa: BLE001 - the position is a courtesy
            where = ""
    text = (exc.getMessage() if hasattr(exc, "getMessage") else str(exc)) or name
    return f"{text}{where}"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun[:-1]}ies" if noun.endswith("y") else f"{count} {noun}s"


# -- pages -----------------------------------------------------------------------------------
def _page_article(rnd: _Round, resp: _Response, entry: _Entry | None) -> Article:
    import trafilatura

    if resp.ctype and not _html(resp.ctype):
        raise _Fail(f"not an HTML page ({resp.ctype})")
    html: str | bytes = resp.body
    if resp.charset:
        try:
            html = resp.body.decode(resp.charset, errors="replace")
        except LookupError:
            html = resp.body
    doc = trafilatura.bare_extraction(html, url=resp.url, include_comments=False, include_tables=False,
                                      with_metadata=True, favor_precision=True)
    text = getattr(doc, "text", None) if doc is not None else None
    if not text or not text.strip():
        raise _Fail("no article text found in the page")
    canonical = _canonical(resp.url, getattr(doc, "url", "") or "")
    date = getattr(doc, "date", "") or ""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        date = (entry.date if entry else "") or ""
    host = (urlsplit(canonical).hostname or "").lower().removeprefix("www.")
    site = getattr(doc, "sitename", "") or ""
    if site.lower().removeprefix("www.").split(":")[0] == host:  # trafilatura's fallback: the netloc
        site = ""
    meta = {
        "title": getattr(doc, "title", "") or (entry.title if entry else ""),
        "outlet": site or host,
        "date": date,
        "author": getattr(doc, "author", "") or (entry.author if entry else ""),
        "url": redact(canonical),
    }
    try:
        return make_article(_doc_id(canonical), text, meta, redact(resp.url))
    except Unusable as why:
        raise _Fail(str(why)) from None


def _canonical(fetched: str, claimed: str) -> str:
    """The page's canonical URL when it is a plausible one: same host, and not the site's root for
    an article below it (a common misconfiguration that would give every page one id)."""
    if not claimed:
        return fetched
    try:
        c, f = urlsplit(urljoin(fetched, claimed)), urlsplit(fetched)
        c.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return fetched
    if c.scheme not in ("http", "https") or (c.hostname or "").removeprefix("www.") != (f.hostname or "").removeprefix("www."):
        return fetched
    if c.path.strip("/") == "" and f.path.strip("/") != "":
        return fetched
    return urlunsplit((c.scheme, c.netloc, c.path, c.query, ""))


def _normal(url: str) -> str:
    """A URL's identity: lower-case scheme and host, no default port, no fragment, no credentials."""
    try:
        p = urlsplit(url.strip())
        port = p.port
    except ValueError:
        raise _Fail("not a valid http(s) URL") from None
    host = (p.hostname or "").lower()
    if p.scheme.lower() not in ("http", "https") or not host:
        raise _Fail("not a valid http(s) URL")
    port = port if port and port != {"http": 80, "https": 443}.get(p.scheme.lower()) else None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((p.scheme.lower(), netloc, p.path or "/", p.query, ""))


def _state_key(url: str) -> str:
    """A URL's key in web_state.json (and its cached page's file name): its normal form, or, when that
    carries a secret (`?token=…`, user:password@), the redacted form plus a hash, so nothing secret is stored."""
    normal = _normal(url)
    shown = redact(normal)
    return normal if shown == normal else f"{shown}#{hashlib.sha256(normal.encode()).hexdigest()[:16]}"


def doc_ids_for(arg: str, state_dir: Path | str) -> list[str]:
    """The document ids a URL may have been ingested under: the one its page got (its canonical URL,
    from web_state.json), and its own (the URL without the scheme). [] for an argument that is no URL."""
    if not _URL.match(arg):
        return []
    try:
        own = _doc_id(arg)
        known = _read_state(Path(state_dir))["urls"].get(_state_key(arg)) or {}
    except _Fail:
        return []
    ids = [str(known["doc"])] if known.get("doc") else []
    return list(dict.fromkeys(ids + [own]))


def _doc_id(url: str) -> str:
    """The document id of a page: its canonical URL without the scheme or a trailing slash."""
    p = urlsplit(_normal(url))
    doc = p.netloc + (p.path.rstrip("/") or "") + (f"?{p.query}" if p.query else "")
    doc = redact("http://" + doc)[len("http://"):]
    if len(doc) > 200:
        doc = doc[:180] + "#" + hashlib.sha1(doc.encode()).hexdigest()[:12]
    return doc


# -- state -----------------------------------------------------------------------------------
def _read_state(state_dir: Path | None) -> dict[str, Any]:
    if state_dir is None:
        return {"version": 1, "urls": {}}
    try:
        data = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("urls"), dict):
            return data
    except (OSError, ValueError):
        pass
    return {"version": 1, "urls": {}}


def _stored(state: dict[str, Any]) -> dict[str, Any]:
    """The state as written to disk: no secret in it. Keys are already redacted (`_state_key`; older files'
    raw ones are dropped); a feed whose entries link with credentials keeps neither its entries nor its
    validators, so its next round fetches it in full instead of reading those links back."""
    urls: dict[str, Any] = {}
    for key, value in state.get("urls", {}).items():
        if redact(key) != key or not isinstance(value, dict):
            continue
        if value.get("kind") == "feed":
            entries = value.get("entries", [])
            if any(redact(str(e.get(f, ""))) != str(e.get(f, "")) for e in entries for f in ("link", "guid")):
                value = {"kind": "feed", "etag": "", "last_modified": "", "entries": []}
        urls[key] = value
    return {**state, "urls": urls}


def _write_state(state_dir: Path | None, state: dict[str, Any]) -> None:
    if state_dir is None:
        return
    state = _stored(state)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, state_dir / STATE_FILE)
    except OSError:
        pass  # the next round fetches everything again: slower, never wrong


def _page_path(state_dir: Path, key: str) -> Path:
    return state_dir / PAGES_DIR / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".json")


def _read_page(state_dir: Path | None, key: str) -> Article | None:
    if state_dir is None:
        return None
    try:
        return Article(**json.loads(_page_path(state_dir, key).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _write_page(state_dir: Path | None, key: str, art: Article) -> None:
    if state_dir is None:
        return
    path = _page_path(state_dir, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(art), ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass

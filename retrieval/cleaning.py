"""Which lines of a page are the article, by general rules about news pages.

Nothing is deleted from the text: each block gets a kind, and only "body",
"heading" and "caption" blocks are indexed, so offsets stay those of the original.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Leading " date YYYY-MM-DD " line of the scraped seed format.
DATE_PREFIX = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\b[ \t]*")

_MONTHS = r"(?:January|February|March|April|May|June|July|August|September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?"

BOILERPLATE = [
    ("donation appeal", re.compile(r"\b(support us|patreon|become a (patron|member|supporter)|donat(e|ion)|"
                                   r"help us (produce|continue|keep)|support of readers|subscribe (now|today)|"
                                   r"sign up for our newsletter|join our community)\b", re.I)),
    ("ad-blocker notice", re.compile(r"\bad[- ]?blocker|disabl\w+ your ad", re.I)),
    ("correction prompt", re.compile(r"\b(suggest a correction|corrections? here|report an? (error|typo)|"
                                     r"highlight the text and press|ctrl\s*\+\s*enter|leave your suggestions)", re.I)),
    ("related links", re.compile(r"^\s*(read (also|more)|related( posts| articles| stories)?|see also|"
                                 r"more on this|recommended|you may also like|most read)\s*:?\s*$", re.I)),
    ("share buttons", re.compile(r"^\s*(share|tweet|share on \w+|print|email|copy link)\s*$", re.I)),
]
# After one of these, the rest of the page is page furniture, not the article.
FOOTER_START = {"related links", "correction prompt", "ad-blocker notice"}

READING_TIME = re.compile(r"^\s*\d+\s*(-|\s)?min(ute)?s?\s+read\s*$", re.I)
BYLINE = re.compile(r"^\s*by\s*([A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){0,3})\s*$")
DATE_LINE = re.compile(rf"^\s*(\d{{1,2}}[/.]\d{{1,2}}[/.]\d{{2,4}}|{_MONTHS}\s+\d{{1,2}},\s+\d{{4}}|\d{{1,2}}\s+{_MONTHS}\s+\d{{4}})\s*$")
# Photo captions: an explicit credit, or the wire-service "…, Place, Month D, YYYY." pattern.
CAPTION = [
    re.compile(r"\b(credit|photo(graph)?|image|picture)s?\s*(by)?\s*:", re.I),
    re.compile(r"\b(via|/)\s*(AP|Reuters|AFP|Getty( Images)?|EPA|Sputnik|TASS|Shutterstock)\b"),
    re.compile(r"\bPool Photo\b"),
    re.compile(rf",\s*(on\s+)?{_MONTHS}\s+\d{{1,2}},\s+\d{{4}}\.?\s*$"),
]


@dataclass
class Block:
    start: int
    end: int
    kind: str  # body | heading | caption | meta (byline, dateline) | boilerplate | duplicate
    reason: str = ""


@dataclass
class PageInfo:
    date: str = ""
    title: str = ""
    author: str = ""


def content_start(text: str) -> tuple[int, str]:
    """Where the content begins after the seed format's date prefix, and that date."""
    m = DATE_PREFIX.match(text)
    return (m.end(), m.group(1)) if m else (0, "")


def classify(text: str) -> tuple[list[Block], PageInfo]:
    """Split into line blocks (offsets into `text`) and give each a kind."""
    begin, date = content_start(text)
    info = PageInfo(date=date)
    lines = [(begin + m.start(), begin + m.end()) for m in re.finditer(r"[^\n]+", text[begin:])]
    lines = [(s, e) for s, e in (_trim(text, s, e) for s, e in lines) if e > s]
    blocks: list[Block] = []
    seen: set[str] = set()
    in_footer = False
    n = len(lines)
    for i, (s, e) in enumerate(lines):
        line = text[s:e]
        key = _norm(line)
        nxt = text[lines[i + 1][0] : lines[i + 1][1]] if i + 1 < n else ""
        kind, reason = "body", ""
        rule = next((name for name, rx in BOILERPLATE if rx.search(line)), None)
        if in_footer:
            kind, reason = "boilerplate", "page footer"
        elif rule:
            kind, reason = "boilerplate", rule
            # Footers start late in the page; a donation line at the top is not a footer.
            if rule in FOOTER_START and i > n * 0.5:
                in_footer = True
        elif key in seen:
            kind, reason = "duplicate", "repeated line"
        elif _is_nav(line):
            kind, reason = "boilerplate", "navigation"
        elif m := BYLINE.match(line):
            kind, reason = "meta", "byline"
            info.author = info.author or m.group(1)
        elif DATE_LINE.match(line):
            kind, reason = "meta", "dateline"
        elif READING_TIME.match(line):
            kind, reason = "meta", "reading time"
        elif any(rx.search(line) for rx in CAPTION):
            kind = "caption"
        elif nxt and _norm(nxt).startswith(key) and len(line) < len(nxt) and not _ends_sentence(line):
            kind, reason = "duplicate", "image alt text"
        elif not _ends_sentence(line) and len(line) < 200 and len(line.split()) >= 3:
            kind = "heading"
            if not info.title:
                info.title = _bare_heading(line)
        elif not _ends_sentence(line) and len(line.split()) < 3:
            kind, reason = "boilerplate", "fragment"
        seen.add(key)
        blocks.append(Block(s, e, kind, reason))
    return blocks, info


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def _bare_heading(line: str) -> str:
    """A heading as a title: without Markdown's `# ` (or `## … ##`) and emphasis around it."""
    bare = re.sub(r"^\s*#{1,6}\s+|\s+#+\s*$", "", line).strip()
    return re.sub(r"^([*_]{1,3})(.+)\1$", r"\2", bare).strip() or line


def _norm(line: str) -> str:
    return re.sub(r"\W+", " ", line.lower()).strip()


def _ends_sentence(line: str) -> bool:
    return bool(re.search(r"[.!?…][\"'”’»)\]]*\s*$", line))


def _is_nav(line: str) -> bool:
    """Language switchers and menu items: one short token such as "Eng" or "Esp"."""
    return len(line) <= 4 and line.isalpha()

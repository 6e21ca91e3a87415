"""An `Article` from raw text and its metadata, or why not: the one rule files (retrieval/loading.py) and
fetched pages (retrieval/web.py) share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .cleaning import classify
from .types import Article

META_FIELDS = ("title", "outlet", "date", "author", "url")


class Unusable(Exception):
    """A file, a feed item or a page that cannot be an article; the message is the reason shown (with the
    feed's line when there is one)."""

    def __init__(self, reason: str, line: int | None = None):
        super().__init__(reason)
        self.line = line


def make_article(doc: str, text: str, meta: dict[str, Any], path: Path | str) -> Article:
    """The article, its missing date, title and author taken from the text itself (a dateline, a heading, a
    byline); raises Unusable when nothing of it reads as article text once the page furniture is gone."""
    blocks, info = classify(text)
    if not any(b.kind in ("body", "caption") for b in blocks):
        if blocks and all(b.kind in ("heading", "meta") for b in blocks):
            raise Unusable("no article text: its only lines read as headings (no sentence ending with a full stop)")
        raise Unusable("no article text left after removing page boilerplate")
    fields = {k: str(meta.get(k) or "") for k in META_FIELDS}
    if not fields["date"]:
        fields["date"] = info.date
    if not fields["title"] and "title" not in meta:
        fields["title"] = info.title
    if not fields["author"] and "author" not in meta:
        fields["author"] = info.author
    return Article(doc=doc, text=text, path=str(path), **fields)

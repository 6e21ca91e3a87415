"""What the Discord bot shows, as pure functions of an `Answer` (or of records, or text), tested directly:
Discord's limits, escaping, splitting long answers, the sources embed, the streamed draft, the notes a user
may see, the /sources pages, the help text, and a thread's history read back as (question, answer) pairs.

Labels, outlets and `<think>` blocks follow the library's rules: `retrieval.types.source_heading`,
`retrieval.types.other_outlets`, `retrieval.llm.strip_thinking`. bot/discord_bot.py sends what these return.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import discord

from retrieval.answerer import ABSTAIN_TEXT
from retrieval.config import Settings
from retrieval.llm import strip_thinking
from retrieval.types import Answer, Source, other_outlets, source_heading

log = logging.getLogger("newsqa.discord")

# --------------------------------------------------------------------------------------------
# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
# --------------------------------------------------------------------------------------------

MESSAGE_LIMIT = 2000
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096  # the /sources listing; an answer's sources go in fields
EMBED_FIELD_NAME_LIMIT = 256
EMBED_FIELD_VALUE_LIMIT = 1024
EMBED_FIELD_COUNT_LIMIT = 25
EMBED_TOTAL_LIMIT = 6000
THREAD_NAME_LIMIT = 100

QUOTE_CHARS = 280  # the longest quote of a cited passage shown in the sources embed
ECHO_CHARS = 300  # the longest echo of a question above a slash-command answer
HISTORY_MESSAGES = 12  # how far back a thread is read for a follow-up
SOURCES_PER_PAGE = 20  # /sources shows this many articles a page, newest first
SOURCES_VIEW_TIMEOUT = 600.0  # seconds the Previous/Next buttons work (an interaction token lasts 15 minutes)
# LLM mode streams: one message is posted at once and edited as the model writes. Discord allows
# 5 edits per 5 s per channel; one edit every 1.2 s keeps a stream at ~4 per 5 s, leaving room for
# the final edit and the bot's other sends there (discord.py waits out any 429 that still happens).
STREAM_EDIT_INTERVAL = 1.2
STREAM_PLACEHOLDER = "…"  # the first message of a streamed answer, before any text arrives
STREAM_CURSOR = " …"  # after the streamed text while the model is still writing
NO_MENTIONS = discord.AllowedMentions.none()

APOLOGY = "Sorry, something went wrong while I was answering that. Please try again in a moment."
NOT_HERE = "Sorry, I don't answer questions in this channel."
CLOSEST = "These are the closest passages I found, in case they help."
FOLLOW_UP_HINT = "Follow-up questions go here"
# The bot's own messages that are not answers, left out of a thread's history.
CHATTER = (FOLLOW_UP_HINT, "Sorry", "You've asked")


# --------------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Article text or a user's words, made inert: no mentions, no markdown."""
    return discord.utils.escape_markdown(discord.utils.escape_mentions(text or ""))


def one_line(text: str) -> str:
    return " ".join((text or "").split())


def shorten(text: str, limit: int, ellipsis: str = "…") -> str:
    """`text` cut to at most `limit` characters, at a word when one is near, never after a lone backslash."""
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return text[:limit]
    cut = text[: limit - len(ellipsis)]
    space = cut.rfind(" ")
    if space > len(cut) // 2:
        cut = cut[:space]
    # An escaped text must not end in the backslash of a split escape pair.
    while cut.endswith("\\"):
        cut = cut[:-1]
    return cut.rstrip() + ellipsis


def strip_mention(content: str, bot_id: int, role_ids: Iterable[int] = ()) -> str:
    """The question in a message: every mention of the bot (user or its managed role) removed."""
    text = re.sub(rf"<@!?{int(bot_id)}>", " ", content or "")
    for role_id in role_ids:
        text = re.sub(rf"<@&{int(role_id)}>", " ", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    return text.strip()


# Spans a split must never cut: markdown links (their text may contain spaces), [n] citation
# markers (also in their escaped form) and backslash escapes.
_PROTECTED = re.compile(r"\\?\[[^\]\n]*\\?\]\([^)\s]*\)|\\?\[\d+\\?\]|\\.", re.DOTALL)
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]*_]*(?:\s?\\?\[\d+\\?\])*$")
_STARTS_WITH_MARKER = re.compile(r"\\?\[\d+\\?\]")


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split `text` into parts of at most `limit` characters.

    Cuts at the last paragraph break that fits, else a line break, else a sentence end, else a
    space; never inside a word, a [n] marker or a markdown link, and never between a sentence and
    the marker that follows it. Markers are not renumbered, so they stay consistent across parts.
    Only a single "word" longer than `limit` is cut hard (outside protected spans when possible).
    """
    text = (text or "").strip()
    if not text:
        return []
    protected = [m.span() for m in _PROTECTED.finditer(text)]

    def inside(i: int) -> tuple[int, int] | None:
        for s, e in protected:
            if s < i < e:
                return s, e
            if s >= i:
                break
        return None

    parts: list[str] = []
    start = 0
    while len(text) - start > limit:
        cut = _best_cut(text, start, limit, inside)
        parts.append(text[start:cut].rstrip())
        start = cut
        while start < len(text) and text[start].isspace():
            start += 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def _best_cut(text: str, start: int, limit: int, inside: Callable[[int], Any]) -> int:
    """Where the part starting at `start` ends (an index into `text`, exclusive)."""
    end = start + limit
    best: dict[str, int] = {}
    for m in re.finditer(r"\s+", text[start:end + 1]):
        ws, we = start + m.start(), start + m.end()
        if ws <= start or ws > end or inside(ws):
            continue
        after = text[we:we + 12]
        if _STARTS_WITH_MARKER.match(after):
            continue  # keep a citation marker with the words it cites
        run = m.group()
        if "\n" in run and run.count("\n") >= 2:
            kind = "paragraph"
        elif "\n" in run:
            kind = "line"
        elif _SENTENCE_END.search(text[max(start, ws - 40):ws]):
            kind = "sentence"
        else:
            kind = "word"
        best[kind] = ws
    for kind in ("paragraph", "line", "sentence", "word"):
        if kind in best:
            return best[kind]
    # One unbroken run longer than the limit: cut hard, but not inside a protected span.
    span = inside(end)
    if span and span[0] > start:
        return span[0]
    return end


def rate_limited_text(wait: float, per_minute: int) -> str:
    seconds = max(1, round(wait))
    return (f"You've asked {per_minute} questions in the last minute, which is my limit. "
            f"Please try again in {seconds} second{'s' if seconds != 1 else ''}.")


def _safe_url(url: str) -> str:
    url = (url or "").strip()
    if not re.match(r"https?://[^\s<>]+$", url):
        return ""
    return url.replace("(", "%28").replace(")", "%29")


def heading(source: Any) -> str:
    """The library's heading of a source or record (`retrieval.types.source_heading`: 'outlet — title', else its
    doc id), escaped."""
    return escape(source_heading(source.outlet, source.title, source.doc))


def _source_field(source: Source, quote_chars: int, name_chars: int) -> tuple[str, str]:
    name = shorten(f"[{source.n}] {heading(source)}", min(name_chars, EMBED_FIELD_NAME_LIMIT))
    head = []
    if source.date:
        head.append(escape(source.date))
    if source.kind == "caption":
        head.append("(photo caption)")
    elif source.kind == "meta":
        head.append("(byline)")
    url = _safe_url(source.url)
    link = f"[link]({url})" if url else ""
    lines = [" · ".join(head)] if head else []
    also = list(dict.fromkeys(one_line(o) for o in other_outlets(source.outlet, source.copies)))
    if also:  # a wire story other outlets ran too (retrieval/copies.py)
        lines.append(shorten("also ran in: " + escape(", ".join(also)), 300))
    budget = EMBED_FIELD_VALUE_LIMIT - sum(len(x) + 1 for x in lines) - len(link) - 4
    quote = escape(one_line(source.text))
    if quote_chars > 0 and quote and budget > 8:
        lines.append(f"“{shorten(quote, min(quote_chars, budget))}”")
    if link:
        lines.append(link)
    value = "\n".join(lines) or escape(source.doc)
    return name, shorten(value, EMBED_FIELD_VALUE_LIMIT)


def build_embed(answer: Answer) -> discord.Embed | None:
    """The numbered sources as one embed within Discord's limits, or None without sources."""
    sources = list(answer.sources)
    if not sources:
        return None
    title = "Closest passages" if answer.abstained and not answer.sentences else "Sources"
    # Shrink quotes, then names, until the embed fits in 6,000 characters.
    for quote_chars, name_chars in ((QUOTE_CHARS, 256), (180, 256), (100, 160), (40, 100), (0, 80), (0, 40)):
        embed = discord.Embed(title=shorten(title, EMBED_TITLE_LIMIT), colour=discord.Colour.light_grey() if answer.abstained
                              else discord.Colour.blurple())
        shown = sources
        if len(sources) > EMBED_FIELD_COUNT_LIMIT:
            shown = sources[: EMBED_FIELD_COUNT_LIMIT - 1]
        for s in shown:
            name, value = _source_field(s, quote_chars, name_chars)
            embed.add_field(name=name, value=value, inline=False)
        rest = sources[len(shown):]
        if rest:
            more = "\n".join(shorten(f"[{s.n}] {heading(s)}", 120) for s in rest)
            embed.add_field(name=f"{len(rest)} more sources", value=shorten(more, EMBED_FIELD_VALUE_LIMIT),
                            inline=False)
        if len(embed) <= EMBED_TOTAL_LIMIT:
            return embed
    return embed  # pragma: no cover - the last configuration always fits (25 x ~150 characters)


def render_answer(answer: Answer, echo: str | None = None) -> tuple[list[str], discord.Embed | None]:
    """The message texts (each <= 2,000 characters) and the sources embed for the last of them."""
    lines = []
    if echo:
        lines.append(echo_line(echo))
        lines.append("")
    if answer.abstained:
        lines.append(escape(answer.answer.strip()) or ABSTAIN_TEXT)
        if answer.sources:
            lines.append(CLOSEST)
    else:
        lines.append(escape(answer.answer.strip()) or ABSTAIN_TEXT)
        for note in public_notes(answer):
            lines.append(f"-# note: {escape(one_line(note))}")
    return split_message("\n".join(lines)), build_embed(answer)


def echo_line(question: str) -> str:
    """The question quoted above a slash-command answer (escaped, at most ECHO_CHARS)."""
    return f"> {shorten(escape(one_line(question)), ECHO_CHARS)}"


def render_draft(text: str, header: str = "") -> str:
    """What a streamed answer's message shows while the model writes: the raw text so far, escaped,
    marked unfinished. Once it outgrows one message only its tail is shown; the final answer is
    checked and split properly, so nothing is lost."""
    body = escape(strip_thinking(text).strip())
    if not body:
        return header + STREAM_PLACEHOLDER
    room = MESSAGE_LIMIT - len(header) - len(STREAM_CURSOR) - 1
    if len(body) > room:
        cut = len(body) - room
        space = body.find(" ", cut, cut + 200)  # start at a word: never between a backslash and what it escapes
        cut = space + 1 if space >= 0 else cut + (body[cut - 1] == "\\")
        body = "…" + body[cut:]
    return header + body + STREAM_CURSOR


# Anything that locates a server: a URL, an IP address (v4 or bracketed v6), localhost or host:port.
_ENDPOINT = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s)]+"
                       r"|\b(?:\d{1,3}\.){3}\d{1,3}\b"
                       r"|\[[0-9a-f:]*:[0-9a-f:]*\]"
                       r"|\blocalhost\b"
                       r"|\b[a-z0-9][\w.-]*\.[a-z]{2,}:\d{2,5}\b"
                       r"|\b[\w.-]+@[\w.-]+\b", re.I)
LLM_UNAVAILABLE_NOTE = "the language model could not be used for this answer; showing the extractive answer"


def public_notes(answer: Answer) -> list[str]:
    """The notes a Discord user may see: none names an endpoint host or URL.

    A note that does (a failed LLM call says where it tried to connect) is left out, and the operator's log
    keeps it; when the answer fell back from the model for a reason that names one (`Answer.fallback`), a
    generic note says the language model could not be used.
    """
    shown: list[str] = []
    for note in answer.notes:
        if not _ENDPOINT.search(note):
            shown.append(note)
            continue
        from retrieval.errors import redact_text

        log.info("note withheld from Discord: %s", redact_text(note))
    if answer.fallback is not None and _ENDPOINT.search(answer.fallback.detail):
        shown.append(LLM_UNAVAILABLE_NOTE)
    return shown


NO_SOURCES = "No articles are indexed yet. Ask a question to load the bundled corpus, or run `newsqa ingest`."


def newest_first(records: dict) -> list:
    """The /sources order, sorted once per command (10k records sort in a few milliseconds)."""
    return sorted(records.values(), key=lambda r: (r.date or "", r.doc), reverse=True)


def page_count(total: int, per_page: int = SOURCES_PER_PAGE) -> int:
    return max(1, -(-total // per_page))


def _source_line(record: Any, budget: int) -> str:
    """One article of the listing: its label linked to the article when it has a URL, and its date."""
    label = shorten(heading(record), 100)
    date = f" · {escape(record.date)}" if record.date else ""
    url = _safe_url(record.url)
    if url:
        # Brackets in a label would end the masked link early.
        linked = f"• [{label.replace('[', '(').replace(']', ')')}]({url}){date}"
        if len(linked) <= budget:
            return linked
    return shorten(f"• {label}{date}", budget)


def sources_embed(rows: Sequence[Any], page: int, per_page: int = SOURCES_PER_PAGE) -> discord.Embed:
    """Page `page` (1-based, clamped) of the listing as one embed, with "Page X of Y" in its footer."""
    pages = page_count(len(rows), per_page)
    page = min(max(1, page), pages)
    shown = rows[(page - 1) * per_page: page * per_page]
    budget = (EMBED_DESCRIPTION_LIMIT - 100) // max(1, per_page)  # every line fits, links and all
    embed = discord.Embed(title=f"{len(rows)} indexed article{'s' if len(rows) != 1 else ''}",
                          description="\n".join(_source_line(r, budget) for r in shown),
                          colour=discord.Colour.blurple())
    embed.set_footer(text=f"Page {page} of {pages} · newest first")
    return embed


def help_text(settings: Settings) -> str:
    return "\n".join([
        "**newsqa** answers questions from the news articles it has indexed, and cites them.",
        "• `/ask question:` — I answer here and open a thread for follow-up questions.",
        "• Mention me with a question, or DM me — same thing. In a thread, mention me again to follow up.",
        "• `/sources` — the articles I can answer from.",
        "Each [n] in an answer points to a numbered source under it. If the articles don't cover "
        "something, I say so rather than guess.",
        f"Limit: {settings.discord.rate_per_minute} questions a minute per person.",
    ])


def thread_name(question: str) -> str:
    name = discord.utils.escape_mentions(one_line(question)) or "question"
    return shorten(name, THREAD_NAME_LIMIT)


def plain_text(text: str) -> str:
    """A rendered Discord message back to plain text for the LLM's history."""
    text = text.replace("\u200b", "")
    text = re.sub(r"\\([\\*_`~|>#\-\[\]()])", r"\1", text)
    return text.strip()


def history_pairs(turns: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """A thread's (role, text) messages, oldest first, as (question, answer) pairs.

    A user message opens a pair; the bot's messages after it are its answer (a long answer spans
    several). A bot message starting with a quoted line is a `/ask` answer echoing its question.
    The bot's hints, apologies and rate-limit replies are left out, and so are `-#` note lines.
    """
    pairs: list[list[str]] = []
    for role, text in turns:
        if role == "user":
            pairs.append([text, ""])
            continue
        if text.startswith(CHATTER):
            continue
        text = "\n".join(line for line in text.splitlines() if not line.startswith("-# "))
        if text.startswith("> "):
            first, _, rest = text.partition("\n")
            pairs.append([first[2:].strip(), rest.strip()])
        elif pairs:
            pairs[-1][1] = f"{pairs[-1][1]}\n{text}".strip()
    return [(q, a) for q, a in pairs]

"""newsqa on Discord: `/ask`, mentions and DMs answered from the indexed articles, with citations.

The whole flow reads top to bottom (in the spirit of jakobdylanc/llmcord); what a message shows is worked
out by the pure functions of bot/discord_render.py (escaping, splitting, embeds, the rate-limit reply, the
streamed draft, the /sources pages), and sent from here:

1. `rewrite_followup`, the LLM rewrite of a follow-up in a thread (the question as asked when it fails).
2. `LiveDraft`, the message an LLM answer streams into (edited at a rate-limit-safe cadence, then
   replaced by the checked answer), and `SourcesPager`, the Previous/Next buttons of /sources.
3. `NewsqaBot`, the discord.py client: command sync at start-up, the message flow (mentions
   and DMs), the slash commands (`/ask`, `/sources`, `/help`) and the shared answering step,
   which runs the blocking engine in a worker thread under a semaphore so heartbeats never stall.
4. `run_bot(settings)`, what `newsqa discord` calls: checks the token, opens the index, runs
   the client and turns a rejected token into a one-line `ConfigError`.

Nothing here ever prints or logs the token. Every send passes `AllowedMentions.none()`, and all
article text and echoed questions are escaped, so an article cannot ping `@everyone` or smuggle
in markdown.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import discord
from discord import app_commands

from retrieval.api import Engine, validate_question
from retrieval.config import Settings
from retrieval.errors import BadInput, ConfigError, NewsqaError
from retrieval.types import Answer

from .discord_render import (
    APOLOGY,
    FOLLOW_UP_HINT,
    HISTORY_MESSAGES,
    NO_MENTIONS,
    NO_SOURCES,
    NOT_HERE,
    SOURCES_VIEW_TIMEOUT,
    STREAM_EDIT_INTERVAL,
    STREAM_PLACEHOLDER,
    echo_line,
    escape,
    help_text,
    history_pairs,
    newest_first,
    one_line,
    page_count,
    plain_text,
    rate_limited_text,
    render_answer,
    render_draft,
    shorten,
    sources_embed,
    strip_mention,
    thread_name,
)

log = logging.getLogger("newsqa.discord")

# --------------------------------------------------------------------------------------------
# Follow-ups in LLM mode
# --------------------------------------------------------------------------------------------


def rewrite_followup(settings: Settings, history: Sequence[tuple[str, str]], question: str) -> str:
    """LLM mode: `question` rewritten into a standalone one using the thread's recent turns.

    `history` is the thread's (question, answer) pairs, oldest first, as
    `retrieval.llm.rewrite_question(settings.llm, history, question)` takes them. Falls back to the
    question unchanged when that function is missing or fails.
    """
    if not history:
        return question
    try:
        from retrieval.llm import rewrite_question
    except ImportError:
        return question
    try:
        rewritten = rewrite_question(settings.llm, list(history), question)
        return validate_question(rewritten) if isinstance(rewritten, str) else question
    except Exception:  # noqa: BLE001 - a failed rewrite must not lose the question
        log.warning("rewriting a follow-up failed; answering it as asked", exc_info=True)
        return question


# --------------------------------------------------------------------------------------------
# A streamed answer, and the /sources pages
# --------------------------------------------------------------------------------------------


class LiveDraft:
    """One posted message that shows an LLM answer as the model writes it.

    The engine calls `on_token` on its worker thread; each token is handed to the event loop with
    `call_soon_threadsafe` and appended to a buffer there. A single editor task turns the buffer
    into edits: never two in flight, and each at least `interval` seconds after the previous one
    finished (so also apart when they reach Discord), with every token that arrived meanwhile
    coalesced into the next edit. `finish()` stops the editor, waits out the same interval and
    makes the last edit, so a late draft can never overwrite the final answer.

    Discord's edit limit is per channel, so two answers streaming in one channel (two DMs, two
    /ask) share it: each edit first reserves the channel's next slot, `interval` after the last one.
    """

    _channel_slots: dict[Any, float] = {}  # channel -> when its next edit may start (event loop only)

    def __init__(self, message: Any, header: str = "", interval: float = STREAM_EDIT_INTERVAL):
        self.message = message
        self.header = header
        self.interval = interval
        self.text = ""
        self.edits = 0  # draft edits made (the final one not counted)
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._stopped = asyncio.Event()
        self._last_edit = float("-inf")  # when the last edit finished; the first draft goes out at once
        self._channel = getattr(getattr(message, "channel", None), "id", None) or id(message)
        self._editor = asyncio.create_task(self._edit_drafts(), name="newsqa-stream-editor")

    def on_token(self, delta: str) -> None:
        """Called on the engine's worker thread with each streamed text delta."""
        self._loop.call_soon_threadsafe(self._append, delta)

    def _append(self, delta: str) -> None:
        if not self._stopped.is_set():
            self.text += delta
            self._changed.set()

    async def _edit_drafts(self) -> None:
        shown = self.header + STREAM_PLACEHOLDER
        while True:
            await self._changed.wait()
            if self._stopped.is_set():
                return
            if not await self._take_slot(until_stopped=True):
                return
            self._changed.clear()
            draft = render_draft(self.text, self.header)
            if draft == shown:
                continue
            try:
                await self.message.edit(content=draft, allowed_mentions=NO_MENTIONS)
                shown = draft
                self.edits += 1
            except Exception as exc:  # noqa: BLE001 - a draft can be missed; the final edit still comes
                log.info("could not edit a streamed draft (%s); waiting for the final answer",
                         getattr(exc, "status", type(exc).__name__))
            finally:
                self._last_edit = time.monotonic()

    async def _take_slot(self, until_stopped: bool) -> bool:
        """Wait until both this message and its channel may be edited, then reserve the channel's slot
        (no await between the check and the reservation, so two drafts never take one slot). With
        `until_stopped`, give up (False) if the answer is finished meanwhile."""
        while True:
            now = time.monotonic()
            ready = max(self._last_edit + self.interval, self._channel_slots.get(self._channel, now))
            if ready <= now:
                self._channel_slots[self._channel] = now + self.interval
                return True
            if not until_stopped:
                await asyncio.sleep(ready - now)
                continue
            try:  # sleep until an edit is allowed, unless the answer is done first
                await asyncio.wait_for(self._stopped.wait(), ready - now)
                return False
            except asyncio.TimeoutError:
                pass

    def stop(self) -> None:
        """No more edits; the editor task ends once an edit in flight has landed."""
        self._stopped.set()
        self._changed.set()

    async def finish(self, content: str, embed: discord.Embed | None = None) -> Any:
        """Stop streaming and replace the draft with `content` (the checked answer, or an apology)."""
        self.stop()
        await self._editor  # lets an edit already in flight land first
        await self._take_slot(until_stopped=False)
        return await self.message.edit(content=content, embed=embed, allowed_mentions=NO_MENTIONS)


class SourcesPager(discord.ui.View):
    """Previous / Next buttons under the /sources listing.

    The records are sorted once when the command runs and kept for the view's lifetime; a button
    press only slices a page out of them. Only the person who ran the command may turn its pages
    (the reply is ephemeral anyway, so this only guards against surprises)."""

    def __init__(self, rows: Sequence[Any], owner_id: int, page: int = 1, timeout: float = SOURCES_VIEW_TIMEOUT):
        super().__init__(timeout=timeout)
        self.rows = rows
        self.owner_id = owner_id
        self.pages = page_count(len(rows))
        self.page = min(max(1, page), self.pages)
        self.message: Any = None  # set once sent, to take the buttons away on timeout
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.previous_page.disabled = self.page <= 1
        self.next_page.disabled = self.page >= self.pages

    def embed(self) -> discord.Embed:
        return sources_embed(self.rows, self.page)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message("Only the person who ran /sources can turn these pages.",
                                                ephemeral=True, allowed_mentions=NO_MENTIONS)
        return False

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary, custom_id="newsqa:sources:previous")
    async def previous_page(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary, custom_id="newsqa:sources:next")
    async def next_page(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._turn(interaction, +1)

    async def _turn(self, interaction: discord.Interaction, step: int) -> None:
        self.page = min(max(1, self.page + step), self.pages)
        self._update_buttons()
        await interaction.response.edit_message(embed=self.embed(), view=self, allowed_mentions=NO_MENTIONS)

    async def on_timeout(self) -> None:
        if self.message is not None:
            try:
                await self.message.edit(view=None)
            except discord.HTTPException:
                pass  # the token may have expired; the buttons just stop answering


# --------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------


class NewsqaBot(discord.Client):
    """Answers `/ask`, mentions and DMs; one instance per process."""

    def __init__(self, settings: Settings, engine: Any, **options: Any):
        # Default intents: guilds, guild messages and DMs. No privileged intent is needed because
        # Discord always delivers the content of DMs and of messages that mention the bot.
        options.setdefault("intents", discord.Intents.default())
        # The bot never joins voice: skip discord.py's warnings about missing voice libraries.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(allowed_mentions=NO_MENTIONS, **options)
        self.settings = settings
        self.engine = engine
        self.tree = app_commands.CommandTree(self)
        self.tree.on_error = self.on_app_command_error
        # Per-user rate limit: discord.py's own cooldown (a token bucket refilled every 60 s), one bucket per
        # user shared by /ask (app_commands.checks.dynamic_cooldown) and by mentions and DMs.
        self.cooldowns: dict[int, app_commands.Cooldown] = {}
        self.slots = asyncio.Semaphore(settings.discord.max_concurrent)
        self._add_commands()

    def cooldown(self, user_id: int) -> app_commands.Cooldown:
        """The user's bucket: `discord.rate_per_minute` questions, refilled 60 s after the first of them."""
        bucket = self.cooldowns.get(user_id)
        if bucket is None:
            bucket = self.cooldowns[user_id] = app_commands.Cooldown(self.settings.discord.rate_per_minute, 60.0)
        return bucket

    # -- start-up ----------------------------------------------------------------------------

    def _add_commands(self) -> None:
        @self.tree.command(name="ask", description="Ask a question about the indexed news articles")
        @app_commands.describe(question="Your question, e.g. Who claimed Kursk was retaken?")
        @app_commands.checks.dynamic_cooldown(lambda interaction: self.cooldown(interaction.user.id))
        async def ask(interaction: discord.Interaction, question: str) -> None:
            await self.on_ask(interaction, question)

        @self.tree.command(name="sources", description="List the news articles I answer from")
        @app_commands.describe(page="Which page of the list to show (20 articles a page, newest first)")
        async def sources(interaction: discord.Interaction, page: app_commands.Range[int, 1] = 1) -> None:
            await self.on_sources(interaction, page)

        @self.tree.command(name="help", description="How to ask me questions")
        async def help_(interaction: discord.Interaction) -> None:
            await interaction.response.send_message(help_text(self.settings), ephemeral=True,
                                                    allowed_mentions=NO_MENTIONS)

    async def setup_hook(self) -> None:
        """Sync the slash commands: to the test guild when configured (instant), else globally."""
        guild_id = self.settings.discord.test_guild
        try:
            if guild_id:
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
                log.info("synced %d slash commands to guild %s", len(synced), guild_id)
            else:
                synced = await self.tree.sync()
                log.info("synced %d slash commands globally (they can take a while to appear)", len(synced))
        except discord.HTTPException as exc:
            log.warning("could not sync slash commands (%s %s); mentions and DMs still work",
                        exc.status, exc.text)

    async def on_ready(self) -> None:
        log.info("logged in as %s (id %s) in %d servers; %s mode, k=%d", self.user,
                 self.user.id if self.user else "?", len(self.guilds), self.settings.mode, self.settings.k)

    # -- where the bot may answer ------------------------------------------------------------

    def allowed_here(self, guild_id: int | None, channel: Any) -> bool:
        """The allow-lists: with guild ids set, only those servers (so no DMs); with channel
        ids set, only those channels and threads inside them."""
        s = self.settings
        if s.discord.guild_ids and guild_id not in s.discord.guild_ids:
            return False
        if s.discord.channel_ids:
            ids = {getattr(channel, "id", None), getattr(channel, "parent_id", None)}
            if not ids & set(s.discord.channel_ids):
                return False
        return True

    def _own_role_ids(self, message: discord.Message) -> list[int]:
        role = message.guild.self_role if message.guild else None
        return [role.id] if role else []

    def is_question(self, message: discord.Message) -> bool:
        if message.author.bot or self.user is None:
            return False
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return False
        if message.guild is None:
            return self.allowed_here(None, message.channel)
        mentioned = any(u.id == self.user.id for u in message.mentions) or any(
            r.id in self._own_role_ids(message) for r in message.role_mentions)
        return (mentioned and self.settings.discord.answer_mentions
                and self.allowed_here(message.guild.id, message.channel))

    # -- mentions and DMs --------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        if not self.is_question(message):
            return
        place: Any = message.channel
        try:
            question = strip_mention(message.content, self.user.id, self._own_role_ids(message))
            try:
                question = validate_question(question)
            except BadInput as exc:
                await self._reply(message, f"Sorry: {escape(str(exc))}")
                return
            # Discord's clock (the message's snowflake), as dynamic_cooldown uses for /ask: one bucket, one clock.
            wait = self.cooldown(message.author.id).update_rate_limit(message.created_at.timestamp())
            if wait:
                await self._reply(message, rate_limited_text(wait, self.settings.discord.rate_per_minute))
                return
            place, opened = await self._place_for(message, question)
            history = [] if opened else await self._history(place, before=message)
            reference = None if opened else message.to_reference(fail_if_not_exists=False)

            async def post(text: str, embed: discord.Embed | None = None, first: bool = False) -> Any:
                """A message in the thread (or channel, or DM); the first replies to the question."""
                kwargs: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
                if first and reference is not None:
                    kwargs["reference"] = reference
                if embed is not None:
                    kwargs["embed"] = embed
                return await place.send(text, **kwargs)

            if self.streaming:
                await self._stream_answer(question, history, post)
            else:
                async with place.typing():
                    answer = await self.answer(question, history)
                await self._post_parts(post, *render_answer(answer))
        except Exception:  # noqa: BLE001 - the bot keeps running; the user gets an apology
            log.exception("answering message %s in channel %s failed", message.id, message.channel.id)
            try:
                await place.send(APOLOGY, allowed_mentions=NO_MENTIONS)
            except Exception:  # noqa: BLE001
                log.warning("could not send the apology either", exc_info=True)

    async def _place_for(self, message: discord.Message, question: str) -> tuple[Any, bool]:
        """Where the answer goes and whether a thread was just opened for it: a new thread on the
        question in a text channel, the same thread for a follow-up, the DM itself in DMs."""
        channel = message.channel
        if message.guild is None or isinstance(channel, discord.Thread):
            return channel, False
        if isinstance(channel, discord.TextChannel):
            try:
                thread = await message.create_thread(name=thread_name(question), auto_archive_duration=1440)
                return thread, True
            except discord.HTTPException as exc:
                log.info("could not open a thread in channel %s (%s); answering in the channel", channel.id,
                         exc.status)
        return channel, False

    async def _reply(self, message: discord.Message, text: str) -> None:
        await message.channel.send(text, allowed_mentions=NO_MENTIONS,
                                   reference=message.to_reference(fail_if_not_exists=False))

    async def _post_parts(self, post: Callable[..., Any], contents: list[str], embed: discord.Embed | None,
                          first: bool = True) -> list[Any]:
        """Post the parts in order with `post(text, embed, first)`; the last carries the embed."""
        sent = []
        for i, part in enumerate(contents):
            sent.append(await post(part, embed if i == len(contents) - 1 else None, first and i == 0))
        return sent

    async def _stream_answer(self, question: str, history: Sequence[tuple[str, str]], post: Callable[..., Any],
                             echo: str | None = None) -> Any:
        """LLM mode: post a placeholder at once, edit it as the model writes, then make it the
        checked answer: `render_answer` of the verified `Answer` (unsupported sentences gone or
        flagged, or the extractive answer when the model failed, even midway), never the raw draft.
        An answer longer than one message continues in new messages, the last with the sources.
        Returns the first message, or None when answering failed and the draft became the apology."""
        header = f"{echo_line(echo)}\n\n" if echo else ""
        first = await post(header + STREAM_PLACEHOLDER, None, True)
        draft = LiveDraft(first, header)
        try:
            answer = await self.answer(question, history, on_token=draft.on_token)
            contents, embed = render_answer(answer, echo=echo)
        except Exception:  # noqa: BLE001 - the user gets an apology in place of the draft
            log.exception("answering %r failed while streaming", shorten(question, 80))
            await draft.finish(APOLOGY)
            return None
        except BaseException:  # cancelled: the bot is closing, and the editor goes with it
            draft.stop()
            raise
        await draft.finish(contents[0], embed if len(contents) == 1 else None)
        await self._post_parts(post, contents[1:], embed, first=False)
        return first

    async def _history(self, place: Any, before: Any = None) -> list[tuple[str, str]]:
        """Inside a thread: its recent (question, answer) pairs, oldest first (else nothing).

        A thread hangs off its starter message in the parent channel (same id): the first question
        of a mention thread, or the echoed question and answer of an `/ask` thread."""
        if not isinstance(place, discord.Thread):
            return []
        try:
            messages = [m async for m in place.history(limit=HISTORY_MESSAGES, before=before)]
            messages.reverse()
            starter = place.starter_message
            if starter is None and place.parent is not None:
                try:
                    starter = await place.parent.fetch_message(place.id)
                except discord.HTTPException:
                    starter = None
        except discord.HTTPException as exc:
            log.info("could not read thread %s history (%s); answering as asked", place.id, exc.status)
            return []
        turns = []
        for m in ([starter] if starter is not None else []) + messages:
            if m.author.id == self.user.id:
                role = "assistant"
            elif m.author.bot:
                continue
            else:
                role = "user"
            text = plain_text(strip_mention(m.content, self.user.id))
            if text:
                turns.append((role, text))
        return history_pairs(turns)

    # -- slash commands ----------------------------------------------------------------------

    async def on_ask(self, interaction: discord.Interaction, question: str) -> None:
        if not self.allowed_here(interaction.guild_id, interaction.channel):
            await interaction.response.send_message(NOT_HERE, ephemeral=True, allowed_mentions=NO_MENTIONS)
            return
        try:
            question = validate_question(question)
        except BadInput as exc:
            await interaction.response.send_message(f"Sorry: {escape(str(exc))}", ephemeral=True,
                                                    allowed_mentions=NO_MENTIONS)
            return
        await interaction.response.defer(thinking=True)  # within Discord's 3 seconds

        async def post(text: str, embed: discord.Embed | None = None, first: bool = False) -> Any:
            """A follow-up message (the first replaces "newsqa is thinking…"); `wait` returns it, to edit."""
            kwargs: dict[str, Any] = {"allowed_mentions": NO_MENTIONS, "wait": True}
            if embed is not None:
                kwargs["embed"] = embed
            return await interaction.followup.send(text, **kwargs)

        channel = interaction.channel
        try:
            history = await self._history(channel)
            if self.streaming:
                first = await self._stream_answer(question, history, post, echo=question)
            else:
                answer = await self.answer(question, history)
                first = (await self._post_parts(post, *render_answer(answer, echo=question)))[0]
        except Exception:  # noqa: BLE001
            log.exception("answering /ask (interaction %s) failed", interaction.id)
            try:
                await interaction.followup.send(APOLOGY, allowed_mentions=NO_MENTIONS)
            except Exception:  # noqa: BLE001
                log.warning("could not send the apology either", exc_info=True)
            return
        if isinstance(channel, discord.TextChannel) and first is not None:
            await self._open_thread(channel, first, question)

    async def _open_thread(self, channel: discord.TextChannel, message: Any, question: str) -> None:
        """A thread on a slash-command answer, so follow-ups stay together."""
        try:
            thread = await channel.create_thread(name=thread_name(question), message=discord.Object(message.id),
                                                 auto_archive_duration=1440)
            await thread.send(f"{FOLLOW_UP_HINT}: mention {self.user.mention} or use /ask.",
                              allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.info("could not open a thread on message %s (%s)", message.id, exc.status)

    async def on_sources(self, interaction: discord.Interaction, page: int = 1) -> None:
        """The indexed articles, newest first, a page at a time with Previous/Next buttons (ephemeral)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            rows = newest_first(await asyncio.to_thread(self.engine.sources))
        except Exception:  # noqa: BLE001
            log.exception("listing sources failed")
            await interaction.followup.send(APOLOGY, ephemeral=True, allowed_mentions=NO_MENTIONS)
            return
        if not rows:
            await interaction.followup.send(NO_SOURCES, ephemeral=True, allowed_mentions=NO_MENTIONS)
            return
        pager = SourcesPager(rows, owner_id=interaction.user.id, page=page)
        if pager.pages == 1:
            await interaction.followup.send(embed=pager.embed(), ephemeral=True, allowed_mentions=NO_MENTIONS)
            pager.stop()
            return
        pager.message = await interaction.followup.send(embed=pager.embed(), view=pager, ephemeral=True,
                                                        allowed_mentions=NO_MENTIONS, wait=True)

    async def on_app_command_error(self, interaction: discord.Interaction,
                                   error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.CommandOnCooldown):  # the per-user rate limit, raised by discord.py
            try:
                await interaction.response.send_message(
                    rate_limited_text(error.retry_after, self.settings.discord.rate_per_minute), ephemeral=True,
                    allowed_mentions=NO_MENTIONS)
            except discord.HTTPException:
                log.warning("could not send the rate-limit reply", exc_info=True)
            return
        log.error("slash command failed: %s", error, exc_info=error)
        try:
            if interaction.response.is_done():
                await interaction.followup.send(APOLOGY, ephemeral=True, allowed_mentions=NO_MENTIONS)
            else:
                await interaction.response.send_message(APOLOGY, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.warning("could not send the apology either", exc_info=True)

    # -- answering -----------------------------------------------------------------------------

    @property
    def streaming(self) -> bool:
        """LLM answers stream into an edited message; extractive ones are posted whole (they take ~0.1 s)."""
        return self.settings.mode == "llm"

    async def answer(self, question: str, history: Sequence[tuple[str, str]] = (),
                     on_token: Callable[[str], None] | None = None) -> Answer:
        """Answer in a worker thread, at most N at a time. A follow-up is rewritten by the LLM in LLM mode;
        offline, the thread's last turn is handed to the engine, which carries its names into the search.
        `on_token` is called on that worker thread with each piece of text the model streams."""
        async with self.slots:
            previous = " ".join(history[-1]) if history else None
            if history and self.settings.mode == "llm":
                question = await asyncio.to_thread(rewrite_followup, self.settings, history, question)
                previous = None
            kwargs: dict[str, Any] = {"on_token": on_token} if on_token is not None else {}
            return await asyncio.to_thread(self.engine.answer, question, k=self.settings.k,
                                           mode=self.settings.mode, previous=previous, **kwargs)


def build_client(settings: Settings, engine: Any = None, **options: Any) -> NewsqaBot:
    """The client, with an engine opened from `settings` unless one is given."""
    return NewsqaBot(settings, engine if engine is not None else Engine(settings), **options)


# --------------------------------------------------------------------------------------------
# `newsqa discord`
# --------------------------------------------------------------------------------------------

_TOKEN_REJECTED = "Discord rejected DISCORD_TOKEN (login failed); check the bot token in the environment or .env"


def _prepare_engine(settings: Settings) -> Engine:
    """Open the index before connecting, so a broken index fails fast with its own message."""
    if settings.mode == "llm":
        try:
            from retrieval.llm import require_llm_config
        except ImportError:
            raise ConfigError("LLM mode is not available in this installation; use --mode extractive") from None
        require_llm_config(settings.llm)
    engine = Engine(settings)
    if engine.ensure_index():
        log.info("the index was empty: ingested the bundled corpus")
        engine.index.take_bootstrap()  # said here once, not by the first answer
    engine.store.check_model(engine.embedder.model_id)
    return engine


def setup_logging(stream: Any = None) -> logging.Handler:
    """Log lines on stderr (or `stream`), coloured only on a terminal that wants colour. discord.py's own
    setup colours whenever it runs in Docker, even into a file or a pipe."""
    import os

    stream = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(stream)
    tty = bool(getattr(stream, "isatty", None) and stream.isatty())
    plain = logging.Formatter("[{asctime}] [{levelname:<8}] {name}: {message}", "%Y-%m-%d %H:%M:%S", style="{")
    colour = tty and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
    discord.utils.setup_logging(handler=handler, formatter=None if colour else plain, level=logging.INFO, root=True)
    return handler


def run_bot(settings: Settings) -> int:
    """Run the bot until interrupted; 0 on a clean stop. User-fixable failures raise NewsqaError."""
    token = settings.discord.token
    secret = token.get_secret_value().strip() if token else ""
    if not secret:
        raise ConfigError("DISCORD_TOKEN is not set; put it in the environment or .env")
    if not logging.getLogger().handlers:
        setup_logging()
    engine = _prepare_engine(settings)
    client = build_client(settings, engine)
    try:
        client.run(secret, log_handler=None)
    except discord.LoginFailure:
        raise ConfigError(_TOKEN_REJECTED) from None
    except discord.PrivilegedIntentsRequired:
        raise ConfigError("Discord refused the bot's intents; check the bot settings in the developer portal") from None
    except discord.ConnectionClosed as exc:
        if exc.code == 4004:
            raise ConfigError(_TOKEN_REJECTED) from None
        raise NewsqaError(f"the Discord connection closed (code {exc.code})", 1) from None
    except (discord.GatewayNotFound, discord.HTTPException, aiohttp.ClientError, OSError) as exc:
        # aiohttp's connection errors are OSErrors; their text names the host, never the token.
        raise NewsqaError(f"cannot reach Discord: {type(exc).__name__}: {one_line(str(exc))[:200]}", 1) from None
    return 0

"""The Discord bot, driven offline through discord.py's own code paths.

`discord_double.py` stands in for Discord: a loopback REST API and gateway. The real bot client
logs in to it, syncs its slash commands, connects and identifies over a websocket, and then
receives real gateway payloads (MESSAGE_CREATE, INTERACTION_CREATE...). Parsing, command
dispatch and request building are discord.py's; the tests assert on the recorded HTTP requests.
Answers come from the session's real engine unless a test needs an engine that misbehaves.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import discord
import pytest

from bot.discord_bot import rewrite_followup, run_bot
from bot.discord_render import (
    APOLOGY,
    CLOSEST,
    EMBED_TOTAL_LIMIT,
    MESSAGE_LIMIT,
    NOT_HERE,
    build_embed,
    escape,
    history_pairs,
    split_message,
    strip_mention,
)
from retrieval.config import Settings
from retrieval.errors import ConfigError
from retrieval.types import Answer, Sentence, Source

from conftest import InsideEngine
from discord_double import (
    APP_ID,
    BOT_ID,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    GUILD_ID,
    OTHER_CHANNEL_ID,
    TOKEN,
    USER_ID,
    double_in_thread,
    running_bot,
    settle,
    user_payload,
)

ROOT = Path(__file__).resolve().parent.parent
CITED_Q = "When did Ukraine start its cross-border operation into Kursk?"
ABSTAIN_Q = "What is the capital of Australia?"
MARKER = re.compile(r"\[\d+\]")


def make_settings(seeded_dir, **kw) -> Settings:
    kw.setdefault("discord_test_guild", GUILD_ID)
    kw.setdefault("mode", "extractive")
    return Settings(_env_file=None, data_dir=seeded_dir, **kw)


def run(coro):
    return asyncio.run(coro)


class CountingEngine:
    """The real engine, with the questions it was asked recorded."""

    def __init__(self, engine, fail_first: int = 0, delay: float = 0.0):
        self.engine = engine
        self.questions: list[str] = []
        self.fail_first = fail_first
        self.delay = delay
        self.threads: set[int] = set()
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def answer(self, question, **kw):
        with self._lock:
            self.questions.append(question)
            self.threads.add(threading.get_ident())
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            fail = len(self.questions) <= self.fail_first
        try:
            if self.delay:
                time.sleep(self.delay)  # blocking, like retrieval and answering
            if fail:
                raise RuntimeError("the engine broke on purpose")
            return self.engine.answer(question, **kw)
        finally:
            with self._lock:
                self.active -= 1

    def sources(self):
        return self.engine.sources()


class FixedEngine:
    """Always gives the same answer; records the questions."""

    def __init__(self, answer: Answer):
        self._answer = answer
        self.questions: list[str] = []
        self.previous: list[str | None] = []

    def answer(self, question, **kw):
        self.questions.append(question)
        self.previous.append(kw.get("previous"))
        return self._answer

    def sources(self):
        return {}


def make_answer(text: str, sources: list[Source], abstained: bool = False) -> Answer:
    sentences = [] if abstained else [Sentence(text=text, citations=[s.n for s in sources], supported=True)]
    return Answer(question="q", answer=text, abstained=abstained, sources=sources, sentences=sentences)


def source(n: int, **kw) -> Source:
    base = dict(n=n, doc=f"doc{n}.txt", title=f"Title {n}", outlet="Outlet", date="2025-04-26",
                text=f"Passage number {n} says something.", start=0, end=10, url="", chunk_id=f"c{n}", kind="body")
    base.update(kw)
    return Source(**base)


def mentions_setting(req) -> dict | None:
    body = req.json or {}
    if "data" in body and isinstance(body["data"], dict):
        body = body["data"]
    return body.get("allowed_mentions")


def no_pings(allowed: dict | None) -> bool:
    """Discord's allowed_mentions that ping nobody: nothing parsed, no users, roles or replied user."""
    return (allowed is not None and allowed.get("parse") == [] and not allowed.get("users")
            and not allowed.get("roles") and not allowed.get("replied_user"))


def content_of(req) -> str:
    body = req.json or {}
    if isinstance(body.get("data"), dict):
        body = body["data"]
    return body.get("content") or ""


def thread_requests(reqs):
    return [r for r in reqs if r.method == "POST" and r.path.endswith("/threads")]


# --------------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------------


def long_answer_text(paragraphs: int = 4, sentences: int = 14) -> str:
    paras = []
    n = 1
    for p in range(paragraphs):
        sents = []
        for s in range(sentences):
            sents.append(f"Paragraph {p} sentence {s} reports that the offensive in Kursk continued for "
                         f"several more weeks according to officials [{n}].")
            n = n % 12 + 1
        paras.append(" ".join(sents))
    return "\n\n".join(paras)


def test_discord_split_message_keeps_words_and_markers():
    text = long_answer_text()
    assert len(text) > 3 * MESSAGE_LIMIT
    parts = split_message(text)
    assert len(parts) >= 4
    assert all(0 < len(p) <= MESSAGE_LIMIT for p in parts)
    assert " ".join(parts).split() == text.split()  # no word broken or lost
    assert [m for p in parts for m in MARKER.findall(p)] == MARKER.findall(text)  # numbering untouched
    for p in parts:
        assert not re.search(r"\[\d*$", p) and not re.match(r"^\d*\]", p)  # no marker cut
        assert p.endswith("."), p[-40:]  # cut at sentence ends, marker kept with its sentence


def test_discord_split_message_prefers_paragraphs_then_sentences_then_words():
    paras = ["A" * 30 + ". " + "b" * 30 + ".", "c" * 20 + " " + "d" * 20 + ".", "e" * 10 + "."]
    text = "\n\n".join(paras)
    assert split_message(text, 70) == [paras[0], paras[1] + "\n\n" + paras[2]]
    assert split_message("One two three. Four five six seven. Eight.", 30) == ["One two three.",
                                                                                  "Four five six seven. Eight."]
    assert split_message("alpha beta gamma delta epsilon", 12) == ["alpha beta", "gamma delta", "epsilon"]
    # A citation marker stays with the words it cites, even when it follows a space.
    parts = split_message("word " * 5 + "end [12]. Next sentence here.", 30)
    assert not any(p.startswith("[12]") for p in parts) and "end [12]." in " ".join(parts)


def test_discord_split_message_never_breaks_links_or_markers():
    link = "[the full report from the agency](https://example.com/report?id=1)"
    text = ("lead " * 10) + link + (" tail" * 10) + " [7] [8]"
    for limit in range(len(link), 160, 7):  # any limit the link fits in
        parts = split_message(text, limit)
        assert sum(p.count(link) for p in parts) == 1, (limit, parts)
        assert [m for p in parts for m in MARKER.findall(p)] == ["[7]", "[8]"]
    assert split_message("x" * 4500) == ["x" * 2000, "x" * 2000, "x" * 500]  # only an endless word is cut
    assert split_message("   ") == [] and split_message("short") == ["short"]


def test_discord_build_embed_stays_within_limits():
    many = [source(i, title="T" * 300, outlet="O" * 300, text="word " * 600, url=f"https://example.com/{i}")
            for i in range(1, 31)]
    embed = build_embed(make_answer("x [1].", many))
    assert len(embed) <= EMBED_TOTAL_LIMIT and len(embed.fields) <= 25
    assert all(len(f.name) <= 256 and len(f.value) <= 1024 for f in embed.fields)
    assert len(embed.title) <= 256
    assert "more sources" in embed.fields[-1].name
    # A single long source keeps a quote and its link.
    one = build_embed(make_answer("x [1].", many[:1]))
    assert "“" in one.fields[0].value and "[link](https://example.com/1)" in one.fields[0].value


def test_discord_build_embed_labels_sources():
    answer = make_answer("a [1] b [2] c [3].", [
        source(1, outlet="", title="", doc="003_c7d2b25bb0186fa3.txt"),
        source(2, kind="caption", text="Soldiers walk past a destroyed building."),
        source(3, title="@everyone look", text="**bold** <@123456789012345678> @here"),
    ])
    embed = build_embed(answer)
    names = [f.name for f in embed.fields]
    assert names[0] == "[1] 003\\_c7d2b25bb0186fa3.txt"  # the doc id, its markdown escaped like all article text
    assert "(photo caption)" in embed.fields[1].value
    assert "@everyone" not in names[2] and "@\u200beveryone" in names[2]
    assert "@here" not in embed.fields[2].value and "\\*\\*bold\\*\\*" in embed.fields[2].value
    assert "<@123" not in embed.fields[2].value
    assert embed.title == "Sources"
    assert build_embed(make_answer("nothing", [])) is None
    assert build_embed(make_answer("The articles I have don't say.", [source(1)], abstained=True)).title \
        == "Closest passages"


def test_discord_render_draft_escapes_and_shows_the_tail():
    from bot.discord_render import STREAM_CURSOR, STREAM_PLACEHOLDER, render_draft

    assert render_draft("") == STREAM_PLACEHOLDER and render_draft("<think>hmm", "> q\n\n") == "> q\n\n…"
    draft = render_draft("Officials told @everyone to **stay calm** [1", "> q\n\n")
    assert draft == "> q\n\nOfficials told @\u200beveryone to \\*\\*stay calm\\*\\* [1" + STREAM_CURSOR
    words = " ".join(f"w{i}_x_" for i in range(1200))  # escaped underscores: a cut could orphan one
    tail = render_draft(words, "> q\n\n")
    assert len(tail) <= MESSAGE_LIMIT and tail.startswith("> q\n\n…w") and tail.endswith("w1199\\_x\\_" + STREAM_CURSOR)
    assert len(tail) > MESSAGE_LIMIT - 200  # the tail fills the message


@pytest.mark.slow  # timing: the stream's edit pacing
def test_discord_two_streams_in_one_channel_share_its_edit_pace():
    """Discord limits edits per channel: two answers streaming side by side never edit closer than the
    interval, while a stream in another channel is not slowed by them."""
    from bot.discord_bot import LiveDraft

    edits: list[tuple[int, float]] = []

    class Message:
        def __init__(self, channel_id: int):
            self.channel = SimpleNamespace(id=channel_id)

        async def edit(self, **kwargs):
            edits.append((self.channel.id, time.monotonic()))
            await asyncio.sleep(0.01)

    async def stream(draft: LiveDraft, tokens: int) -> None:
        for i in range(tokens):
            draft.on_token(f"w{i} ")
            await asyncio.sleep(0.02)
        await draft.finish("done")

    async def main() -> None:
        a, b, c = LiveDraft(Message(771), interval=0.25), LiveDraft(Message(771), interval=0.25), \
            LiveDraft(Message(772), interval=0.25)
        await asyncio.gather(stream(a, 40), stream(b, 40), stream(c, 40))

    asyncio.run(main())
    shared = [t for ch, t in edits if ch == 771]
    other = [t for ch, t in edits if ch == 772]
    assert len(shared) >= 4 and len(other) >= 3
    assert min(b - a for a, b in zip(shared, shared[1:])) >= 0.24  # one pace for the channel, not one per draft
    assert len(other) > len(shared) / 2  # the other channel kept its own pace


def test_discord_embed_lists_the_outlets_that_ran_a_wire_story():
    from retrieval.types import Copy

    src = Source(n=1, doc="wire-1", title="Floods", outlet="Wire Service", date="2025-03-04", text="Flood water rose.",
                 start=0, end=17, url="https://wire.example/a",
                 copies=[Copy("c", "Daily Courier"), Copy("h", "Metro *Herald*"), Copy("w2", "Wire Service")])
    embed = build_embed(Answer(question="q", answer="Flood water rose [1].", abstained=False, sources=[src],
                               sentences=[Sentence("Flood water rose.", [1], True)]))
    assert embed is not None
    value = embed.fields[0].value
    assert "also ran in: Daily Courier, Metro \\*Herald\\*" in value and value.count("Wire Service") == 0


def test_discord_rate_limit_is_discord_pys_cooldown_one_bucket_per_user(seeded_dir):
    from discord import app_commands

    from bot.discord_bot import build_client

    async def make():
        return build_client(make_settings(seeded_dir), None)

    bot = run(make())
    bucket = bot.cooldown(1)
    assert isinstance(bucket, app_commands.Cooldown) and bucket is bot.cooldown(1) and bot.cooldown(2) is not bucket
    assert (bucket.rate, bucket.per) == (5, 60.0)
    t = 1000.0
    assert [bucket.update_rate_limit(t) for _ in range(5)] == [None] * 5
    assert bucket.update_rate_limit(t + 30) == pytest.approx(30.0)  # until 60 s after the first question
    assert bucket.update_rate_limit(t + 61) is None
    ask = bot.tree.get_command("ask")
    assert ask.checks, "/ask carries discord.py's cooldown check"


def test_discord_slash_and_mentions_share_the_cooldown_and_get_a_polite_reply(monkeypatch, shared_engine, seeded_dir):
    engine = CountingEngine(shared_engine)

    async def scenario():
        async with running_bot(monkeypatch, make_settings(seeded_dir, discord_rate_per_minute=2), engine) as h:
            d = h.double
            await h.message(d.guild_message(CITED_Q))
            await h.interaction(d.slash("ask", {"question": CITED_Q}))
            third = await h.interaction(d.slash("ask", {"question": CITED_Q}))  # CommandOnCooldown
            fourth = await h.message(d.guild_message(CITED_Q))
            return third, fourth

    third, fourth = run(scenario())
    assert third[0].json["type"] == 4 and third[0].json["data"]["flags"] == 64  # ephemeral, not an apology
    assert "2 questions in the last minute" in third[0].json["data"]["content"]
    assert "try again in" in content_of([r for r in fourth if r.sends_message][0])
    assert len(engine.questions) == 2


def test_discord_strip_mention():
    assert strip_mention(f"<@{BOT_ID}> who retook Kursk?", BOT_ID) == "who retook Kursk?"
    assert strip_mention(f"hey <@!{BOT_ID}>  who retook Kursk? <@{BOT_ID}>", BOT_ID) == "hey who retook Kursk?"
    assert strip_mention("<@&42> what now", BOT_ID, role_ids=[42]) == "what now"
    assert strip_mention("<@999> said so", BOT_ID) == "<@999> said so"


def test_discord_history_pairs_questions_with_answers():
    turns = [("assistant", "> who retook Kursk?\n\nPutin claimed so [1].\n-# note: something"),
             ("assistant", "Follow-up questions go here: mention @newsqa or use /ask."),
             ("user", "did Ukraine agree?"),
             ("assistant", "Ukraine denied it [2]."),
             ("assistant", "More of the same long answer [3]."),
             ("user", "again"),
             ("assistant", "You've asked 5 questions in the last minute, which is my limit."),
             ("user", "and when?")]
    assert history_pairs(turns) == [("who retook Kursk?", "Putin claimed so [1]."),
                                    ("did Ukraine agree?", "Ukraine denied it [2].\nMore of the same long answer [3]."),
                                    ("again", ""), ("and when?", "")]


def test_discord_rewrite_followup_falls_back(monkeypatch, shared_engine):
    history = [("who retook Kursk?", "Putin claimed Russian forces had retaken all of Kursk [1].")]
    # The real rewrite with no LLM configured (whatever the environment says): the question as asked.
    no_llm = Settings(_env_file=None, llm_model=None, openai_api_key=None, openai_base_url=None)
    assert rewrite_followup(no_llm, history, "and when?") == "and when?"
    monkeypatch.setitem(sys.modules, "retrieval.llm", None)  # not installed: import fails
    assert rewrite_followup(shared_engine.settings, history, "and when?") == "and when?"
    broken = type(sys)("retrieval.llm")

    def rewrite_question(settings, history, question):
        raise RuntimeError("LLM down")

    broken.rewrite_question = rewrite_question
    monkeypatch.setitem(sys.modules, "retrieval.llm", broken)
    assert rewrite_followup(shared_engine.settings, history, "and when?") == "and when?"


# --------------------------------------------------------------------------------------------
# The bot, end to end through discord.py
# --------------------------------------------------------------------------------------------


def test_discord_commands_sync_to_test_guild_or_globally(monkeypatch, shared_engine, seeded_dir):
    async def startup(settings):
        async with running_bot(monkeypatch, settings, shared_engine) as h:
            return [r for r in h.double.requests if r.method == "PUT"]

    puts = run(startup(make_settings(seeded_dir)))
    assert [r.path for r in puts] == [f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands"]
    commands = {c["name"]: c for c in puts[0].json}
    assert set(commands) == {"ask", "sources", "help"}
    assert commands["ask"]["options"][0]["name"] == "question" and commands["ask"]["options"][0]["required"]
    puts = run(startup(make_settings(seeded_dir, discord_test_guild=None)))
    assert [r.path for r in puts] == [f"/applications/{APP_ID}/commands"]


def test_discord_mention_answered_in_thread_with_sources_embed(monkeypatch, shared_engine, seeded_dir):
    async def scenario():
        async with running_bot(monkeypatch, make_settings(seeded_dir), shared_engine) as h:
            msg = h.double.guild_message(CITED_Q)
            return msg, await h.message(msg)

    msg, reqs = run(scenario())
    paths = [(r.method, r.path) for r in reqs]
    thread_id = msg["id"]  # a thread started from a message shares its id
    assert paths == [("POST", f"/channels/{CHANNEL_ID}/messages/{msg['id']}/threads"),
                     ("POST", f"/channels/{thread_id}/typing"),
                     ("POST", f"/channels/{thread_id}/messages")]
    assert reqs[0].json["name"] == CITED_Q
    body = reqs[-1].json
    assert "[1]" in body["content"] and "August 2024" in body["content"]
    assert body["allowed_mentions"]["parse"] == []
    embed = body["embeds"][0]
    assert embed["title"] == "Sources"
    assert embed["fields"][0]["name"].startswith("[1] Euromaidan Press — ")
    assert "Ukraine launched" in embed["fields"][0]["value"]
    assert reqs[-1].authorization == f"Bot {TOKEN}"


def test_discord_slash_ask_defers_then_follows_up(monkeypatch, shared_engine, seeded_dir):
    async def scenario():
        async with running_bot(monkeypatch, make_settings(seeded_dir), shared_engine) as h:
            inter = h.double.slash("ask", {"question": CITED_Q})
            return inter, await h.interaction(inter)

    inter, reqs = run(scenario())
    first = reqs[0]
    assert (first.method, first.path) == ("POST", f"/interactions/{inter['id']}/{inter['token']}/callback")
    assert first.json["type"] == 5  # deferred channel message: "newsqa is thinking..."
    follow = reqs[1]
    assert (follow.method, follow.path) == ("POST", f"/webhooks/{APP_ID}/{inter['token']}")
    assert follow.query.get("wait") in ("true", "1")
    assert follow.json["content"].startswith(f"> {CITED_Q}")
    assert "[1]" in follow.json["content"]
    assert follow.json["embeds"][0]["fields"][0]["name"].startswith("[1] ")
    assert follow.json["allowed_mentions"]["parse"] == []
    # Then a thread on the answer, so that follow-ups stay together.
    threads = thread_requests(reqs)
    assert len(threads) == 1 and threads[0].path.startswith(f"/channels/{CHANNEL_ID}/messages/")
    assert threads[0].json["name"] == CITED_Q


def test_discord_long_answer_split_across_messages(monkeypatch, seeded_dir):
    text = long_answer_text()
    engine = FixedEngine(make_answer(text, [source(i) for i in range(1, 13)]))

    async def scenario():
        async with running_bot(monkeypatch, make_settings(seeded_dir), engine) as h:
            msg = h.double.guild_message("tell me everything about kursk")
            await h.message(msg)
            return h.double.posted_to(int(msg["id"]))

    posts = run(scenario())
    contents = [p.json["content"] for p in posts]
    assert len(posts) >= 4 and all(len(c) <= MESSAGE_LIMIT for c in contents)
    assert " ".join(contents).split() == text.split()
    assert [m for c in contents for m in MARKER.findall(c)] == MARKER.findall(text)
    assert all(not p.json.get("embeds") for p in posts[:-1])  # the sources go with the last part
    assert len(posts[-1].json["embeds"][0]["fields"]) == 12
    assert all(p.json["allowed_mentions"]["parse"] == [] for p in posts)


def test_discord_escapes_everyone_in_articles_and_questions(monkeypatch, seeded_dir):
    answer = make_answer("Officials told @everyone to **stay calm** [1].",
                         [source(1, title="@here: news", text="@everyone was told <@&123456789012345678> to go")])
    engine = FixedEngine(answer)

    async def scenario():
        async with running_bot(monkeypatch, make_settings(seeded_dir), engine) as h:
            reqs = await h.interaction(h.double.slash("ask", {"question": "@everyone what did officials say?"}))
            reqs += await h.message(h.double.guild_message("@everyone what did officials say?"))
            return reqs

    reqs = run(scenario())
    sent = [r for r in reqs if r.sends_message]
    assert len(sent) >= 3
    for r in sent + thread_requests(reqs):
        blob = str(r.json)
        assert "@everyone" not in blob and "@here" not in blob and "<@&" not in blob, blob
        if r.sends_message:
            assert mentions_setting(r)["parse"] == []
    follow = next(r for r in sent if r.path.startswith("/webhooks/"))
    assert "@\u200beveryone what did officials say?" in follow.json["content"]  # the echoed question
    assert "\\*\\*stay calm\\*\\*" in follow.json["content"]  # article markdown shown literally


def test_discord_allowed_mentions_on_every_send(monkeypatch, shared_engine, seeded_dir):
    async def scenario():
        settings = make_settings(seeded_dir, discord_rate_per_minute=1)
        async with running_bot(monkeypatch, settings, shared_engine) as h:
            d = h.double
            await h.message(d.guild_message(CITED_Q))
            await h.message(d.guild_message(CITED_Q))  # rate limited
            await h.message(d.guild_message(""))  # empty
            await h.message(d.dm_message(ABSTAIN_Q, author=user_payload(USER_ID + 1, "other")))
            await h.interaction(d.slash("ask", {"question": CITED_Q}, user_id=USER_ID + 2))
            await h.interaction(d.slash("ask", {"question": CITED_Q}, user_id=USER_ID + 2))  # rate limited
            await h.interaction(d.slash("help"))
            await h.interaction(d.slash("sources"))
            return d.requests

    reqs = run(scenario())
    sent = [r for r in reqs if r.sends_message]
    assert len(sent) >= 9
    for r in sent:
        assert no_pings(mentions_setting(r)), (r.path, r.json)


def test_discord_client_default_allows_no_mentions(shared_engine, seeded_dir):
    from bot.discord_bot import build_client

    async def make():
        client = build_client(make_settings(seeded_dir), shared_engine)
        return client.allowed_mentions.to_dict(), client.intents.message_content

    allowed, content_intent = run(make())
    assert no_pings(allowed)
    assert content_intent is False  # no privileged intent: mentions and DMs carry their content anyway


def test_discord_rate_limit_sixth_question_gets_polite_reply(monkeypatch, shared_engine, seeded_dir):
    engine = CountingEngine(shared_engine)

    async def scenario():
        async with running_bot(monkeypatch, make_settings(seeded_dir), engine) as h:
            answered = []
            for _ in range(5):
                msg = h.double.guild_message(CITED_Q)
                await h.message(msg)
                answered.append(h.double.posted_to(int(msg["id"]))[-1].json["content"])
            sixth = await h.message(h.double.guild_message(CITED_Q))
            other = h.double.guild_message(CITED_Q, author=user_payload(USER_ID + 7, "someone-else"))
            await h.message(other)
            return answered, sixth, h.double.posted_to(int(other["id"]))

    answered, sixth, other = run(scenario())
    assert all("[1]" in c for c in answered)
    assert not thread_requests(sixth)
    reply = [r for r in sixth if r.sends_message]
    assert len(reply) == 1 and reply[0].path == f"/channels/{CHANNEL_ID}/messages"
    assert "5 questions in the last minute" in reply[0].json["content"]
    assert "try again in" in reply[0].json["content"]
    assert reply[0].json["message_reference"]["message_id"]
    assert len(engine.questions) == 6  # the sixth question never reached the engine
    assert "[1]" in other[-1].json["content"]  # the limit is per user


def test_discord_handler_exception_apologises_and_bot_keeps_running(monkeypatch, shared_engine, seeded_dir,
                                                                   caplog):
    caplog.set_level("DEBUG")
    engine = CountingEngine(shared_engine, fail_first=2)

    async def scenario():
        async with running_bot(monkeypatch, make_settings(seeded_dir), engine) as h:
            first = h.double.guild_message(CITED_Q)
            await h.message(first)
            failed_slash = await h.interaction(h.double.slash("ask", {"question": CITED_Q}))
            second = h.double.guild_message(CITED_Q)
            await h.message(second)
            return (h.double.posted_to(int(first["id"])), failed_slash, h.double.posted_to(int(second["id"])))

    first, failed_slash, second = run(scenario())
    assert [p.json["content"] for p in first] == [APOLOGY]
    assert failed_slash[0].json["type"] == 5
    assert [r.json["content"] for r in failed_slash if r.sends_message] == [APOLOGY]
    assert "[1]" in second[-1].json["content"] and second[-1].json["embeds"]
    errors = [r for r in caplog.records if r.name == "newsqa.discord" and r.levelname == "ERROR"]
    assert len(errors) == 2 and all("broke on purpose" in str(r.exc_info[1]) for r in errors)
    assert TOKEN not in caplog.text  # never logged, not even at DEBUG


def test_discord_dm_answered_directly(monkeypatch, shared_engine, seeded_dir):
    async def scenario():
        async with running_bot(monkeypatch, make_settings(seeded_dir), shared_engine) as h:
            msg = h.double.dm_message(CITED_Q)
            return msg, await h.message(msg)

    msg, reqs = run(scenario())
    assert not thread_requests(reqs)
    assert [(r.method, r.path) for r in reqs] == [("POST", f"/channels/{DM_CHANNEL_ID}/typing"),
                                                 ("POST", f"/channels/{DM_CHANNEL_ID}/messages")]
    body = reqs[-1].json
    assert "[1]" in body["content"] and body["embeds"][0]["fields"]
    assert str(body["message_reference"]["message_id"]) == msg["id"]
    assert body["allowed_mentions"]["parse"] == []


def test_discord_abstention_is_friendly(monkeypatch, shared_engine, seeded_dir):
    async def scenario():
        async with running_bot(monkeypatch, make_settings(seeded_dir), shared_engine) as h:
            msg = h.double.dm_message(ABSTAIN_Q)
            await h.message(msg)
            return h.double.posted_to(DM_CHANNEL_ID)[-1].json

    body = run(scenario())
    assert "don't say" in body["content"] and CLOSEST in body["content"]
    assert "Sorry" not in body["content"]
    assert body["embeds"][0]["title"] == "Closest passages"
    assert body["embeds"][0]["fields"]


def test_discord_empty_and_overlong_questions_get_cli_messages(monkeypatch, shared_engine, seeded_dir):
    engine = CountingEngine(shared_engine)

    async def scenario():
        async with running_bot(monkeypatch, make_settings(seeded_dir), engine) as h:
            d = h.double
            empty = await h.message(d.guild_message("   "))
            long = await h.message(d.guild_message("why " * 600))
            slash = await h.interaction(d.slash("ask", {"question": "   "}))
            return empty, long, slash

    empty, long, slash = run(scenario())
    assert "the question is empty" in content_of([r for r in empty if r.sends_message][0])
    assert "the limit is 2000" in content_of([r for r in long if r.sends_message][0])
    assert slash[0].json["type"] == 4 and slash[0].json["data"]["flags"] == 64  # ephemeral, no defer
    assert "the question is empty" in slash[0].json["data"]["content"]
    assert engine.questions == []
    assert not thread_requests(empty + long + slash)


def test_discord_sources_and_help_commands(monkeypatch, shared_engine, seeded_dir):
    async def scenario():
        async with running_bot(monkeypatch, make_settings(seeded_dir), shared_engine) as h:
            return await h.interaction(h.double.slash("sources")), await h.interaction(h.double.slash("help"))

    sources, help_ = run(scenario())
    assert sources[0].json["type"] == 5 and sources[0].json["data"]["flags"] == 64
    listing = sources[1].json["embeds"][0]
    assert listing["title"] == "2 indexed articles" and "Euromaidan Press" in listing["description"]
    assert "003\\_c7d2b25bb0186fa3.txt" in listing["description"]  # no title: the doc id, escaped
    assert listing["footer"]["text"].startswith("Page 1 of 1")
    assert not sources[1].json.get("components")  # one page: no buttons
    assert help_[0].json["type"] == 4 and "/ask" in help_[0].json["data"]["content"]
    assert len(help_[0].json["data"]["content"].splitlines()) <= 8


def test_discord_allow_lists_and_mention_setting(monkeypatch, shared_engine, seeded_dir):
    async def scenario(settings, *events):
        async with running_bot(monkeypatch, settings, shared_engine) as h:
            out = []
            for kind, make in events:
                data = make(h.double)
                out.append(await (h.message(data) if kind == "message" else h.interaction(data)))
            return out

    other_guild = make_settings(seeded_dir, discord_guild_ids=[GUILD_ID + 5])
    mention, dm, slash = run(scenario(other_guild, ("message", lambda d: d.guild_message(CITED_Q)),
                                      ("message", lambda d: d.dm_message(CITED_Q)),
                                      ("interaction", lambda d: d.slash("ask", {"question": CITED_Q}))))
    assert mention == [] and dm == []  # ignored silently
    assert slash[0].json["type"] == 4 and slash[0].json["data"]["content"] == NOT_HERE

    one_channel = make_settings(seeded_dir, discord_channel_ids=[CHANNEL_ID])
    elsewhere, here = run(scenario(one_channel,
                                   ("message", lambda d: d.guild_message(CITED_Q, channel_id=OTHER_CHANNEL_ID)),
                                   ("message", lambda d: d.guild_message(CITED_Q))))
    assert elsewhere == [] and "[1]" in here[-1].json["content"]

    no_mentions = make_settings(seeded_dir, discord_answer_mentions=False)
    (mention,) = run(scenario(no_mentions, ("message", lambda d: d.guild_message(CITED_Q))))
    assert mention == []


@pytest.mark.slow  # timing: overlap measured with sleeps inside the engine
def test_discord_answers_off_the_event_loop_with_bounded_concurrency(monkeypatch, shared_engine, seeded_dir):
    # Measured inside the real engine: the bot's semaphore and worker threads, and Engine.answer()
    # letting two threads in at once (it once ran under one engine-wide lock, so answers were serial
    # whatever discord_max_concurrent said, while a wrapper outside the lock measured 2).
    inside = InsideEngine(shared_engine.store.dense, delay=1.5)
    monkeypatch.setattr(shared_engine.store, "dense", inside)

    async def scenario():
        settings = make_settings(seeded_dir, discord_max_concurrent=2, discord_rate_per_minute=10)
        async with running_bot(monkeypatch, settings, shared_engine) as h:
            loop_thread = threading.get_ident()
            gaps = []

            async def ticker():
                last = time.perf_counter()
                while True:
                    await asyncio.sleep(0.02)
                    now = time.perf_counter()
                    gaps.append(now - last)
                    last = now

            tick = asyncio.ensure_future(ticker())
            msgs = [h.double.guild_message(CITED_Q, author=user_payload(USER_ID + i, f"u{i}")) for i in range(4)]
            waiters = [asyncio.ensure_future(h.client.wait_for("message", check=lambda m, i=int(m_["id"]): m.id == i,
                                                               timeout=10)) for m_ in msgs]
            await asyncio.sleep(0)
            for m in msgs:
                await h.double.dispatch("MESSAGE_CREATE", m)
            await asyncio.gather(*waiters)
            await settle(timeout=120)
            tick.cancel()
            answered = [h.double.posted_to(int(m["id"]))[-1].json["content"] for m in msgs]
            return loop_thread, max(gaps), answered

    loop_thread, worst_gap, answered = run(scenario())
    assert all("[1]" in a for a in answered)
    threads = {t for t, _, _ in inside.intervals}
    assert len(inside.intervals) >= 4 and len(threads) >= 2
    # Two answers were inside the engine at the same moment, never more: discord_max_concurrent.
    overlapping = [(a, b) for a in inside.intervals for b in inside.intervals
                   if a[0] != b[0] and a[1] < b[2] and b[1] < a[2]]
    assert overlapping
    assert inside.max_active == 2
    assert loop_thread not in threads  # the engine never runs on the event loop
    assert worst_gap < 1.0  # the loop kept ticking while the engine blocked for 1.5 s at a time


def test_discord_llm_followup_in_thread_is_rewritten(monkeypatch, seeded_dir):
    calls = []
    fake_llm = type(sys)("retrieval.llm")

    def rewrite_question(settings, history, question):
        calls.append((history, question))
        return "Who denied that Russia retook Kursk?"

    fake_llm.rewrite_question = rewrite_question
    monkeypatch.setitem(sys.modules, "retrieval.llm", fake_llm)
    first_answer = "Ukraine's General Staff denied it [1]."
    engine = FixedEngine(make_answer(first_answer, [source(1)]))

    async def scenario(mode, start_with_slash=False):
        async with running_bot(monkeypatch, make_settings(seeded_dir, mode=mode), engine) as h:
            if start_with_slash:
                reqs = await h.interaction(h.double.slash("ask", {"question": CITED_Q}))
                thread_id = int(thread_requests(reqs)[0].path.split("/")[-2])  # the answer's message id
            else:
                first = h.double.guild_message(CITED_Q)
                await h.message(first)
                thread_id = int(first["id"])
            follow = h.double.guild_message("and who denied it?", channel_id=thread_id)
            reqs = await h.message(follow)
            return thread_id, follow, reqs

    # A thread opened on a mention: the starter message is the first question.
    thread_id, follow, reqs = run(scenario("llm"))
    assert not thread_requests(reqs)  # continues in the same thread
    assert [r.path for r in reqs if r.method == "GET"] == [f"/channels/{thread_id}/messages"]
    answer = [r for r in reqs if r.sends_message]
    assert answer[0].path == f"/channels/{thread_id}/messages"
    assert str(answer[0].json["message_reference"]["message_id"]) == follow["id"]
    assert calls == [([(CITED_Q, first_answer)], "and who denied it?")]
    assert engine.questions[-1] == "Who denied that Russia retook Kursk?"

    # A thread opened on an /ask answer: its starter (fetched) echoes the question above the answer.
    calls.clear()
    thread_id, _, reqs = run(scenario("llm", start_with_slash=True))
    assert f"/channels/{CHANNEL_ID}/messages/{thread_id}" in [r.path for r in reqs if r.method == "GET"]
    assert calls == [([(CITED_Q, first_answer)], "and who denied it?")]

    # Extractive mode asks no model to rewrite: the engine gets the question as asked, with the thread's
    # last turn, whose names it carries into the search.
    engine.questions.clear()
    calls.clear()
    thread_id, _, reqs = run(scenario("extractive"))
    assert calls == [] and engine.questions[-1] == "and who denied it?"
    assert engine.previous[-1] == f"{CITED_Q} {first_answer}"
    assert [r.path for r in reqs if r.method == "GET"] == [f"/channels/{thread_id}/messages"]


# --------------------------------------------------------------------------------------------
# LLM mode: the answer streams into one message, edited as the model writes
# --------------------------------------------------------------------------------------------

INVENTED = "The moon is made of green cheese according to the Kremlin"


def first_source_sentence(body: dict) -> str:
    """The first sentence of source 1 in a chat request (what the model is asked to answer from)."""
    prompt = body["messages"][-1]["content"]
    text = re.search(r'<source n="1"[^>]*>\s*(.*?)\s*</source>', prompt, re.S).group(1)
    return re.split(r"(?<=[.!?])\s+", " ".join(text.split()))[0].rstrip(".")


def llm_reply(body: dict) -> str:
    """A completion with one sentence its source supports and one it doesn't (verification drops it)."""
    return f"{first_source_sentence(body)} [1]. {INVENTED} [1]."


@pytest.fixture(scope="module")
def linked_dir(tmp_path_factory) -> Path:
    """The bundled corpus indexed with article URLs in its manifest (the bundled one has none)."""
    import json
    import shutil

    from retrieval.api import Engine

    src = ROOT / "retrieval" / "corpus" / "articles"
    articles = tmp_path_factory.mktemp("linked-articles")
    for f in src.iterdir():
        shutil.copy(f, articles / f.name)
    manifest = json.loads((src / "manifest.json").read_text())
    for a in manifest["articles"]:
        a["url"] = f"https://news.example/{a['doc'].split('_')[0]}"
    (articles / "manifest.json").write_text(json.dumps(manifest))
    data = tmp_path_factory.mktemp("linked-data")
    Engine(Settings(_env_file=None, data_dir=data)).ingest([articles])
    return data


def llm_settings(data_dir, url: str, **kw) -> Settings:
    kw.setdefault("llm_retries", 0)
    return make_settings(data_dir, mode="llm", openai_base_url=url, llm_model="x", openai_api_key=None, **kw)


class PacedEngine:
    """The real engine, with the model's tokens reaching the bot `pace` seconds apart (a slow model)."""

    def __init__(self, engine, pace: float):
        self.engine = engine
        self.pace = pace
        self.tokens: list[str] = []

    def answer(self, question, on_token=None, **kw):
        def paced(delta: str) -> None:
            time.sleep(self.pace)  # on the engine's worker thread, as a real stream blocks there
            self.tokens.append(delta)
            on_token(delta)

        return self.engine.answer(question, on_token=paced if on_token else None, **kw)

    def sources(self):
        return self.engine.sources()


def stream_edits(reqs, path_prefix: str):
    edits = [r for r in reqs if r.edits_message and r.path.startswith(path_prefix)]
    return edits[:-1], edits[-1]


DISCORD_EDIT_SPACING = 1.0  # Discord allows 5 edits per 5 s per channel: a stream must not go faster


def assert_cadence(edits, at_least: float) -> None:
    """Consecutive edits of one message arrived at least `at_least` seconds apart (and never faster
    than Discord's sustained edit rate, whatever the bot's constant says)."""
    gaps = [b.at - a.at for a, b in zip(edits, edits[1:])]
    assert gaps and all(g >= max(at_least, DISCORD_EDIT_SPACING) for g in gaps), gaps


@pytest.mark.slow  # timing: the stream's edit pacing
def test_discord_llm_mention_streams_edits_then_shows_the_verified_answer(monkeypatch, linked_dir):
    from bot.discord_render import STREAM_CURSOR, STREAM_EDIT_INTERVAL, STREAM_PLACEHOLDER, build_embed, render_answer
    from retrieval.api import Engine

    from llm_double import ScriptedLLM

    with ScriptedLLM([llm_reply], pace=0.07) as llm:  # a real server streaming at a model's pace
        settings = llm_settings(linked_dir, llm.url)
        engine = Engine(settings)
        expected = engine.answer(CITED_Q, k=settings.k, mode="llm")  # the same reply, outside the bot

        async def scenario():
            async with running_bot(monkeypatch, settings, engine) as h:
                h.double.delay["PATCH /channels/\\d+/messages/\\d+"] = 0.3  # a slow edit must not overlap the next
                msg = h.double.guild_message(CITED_Q)
                reqs = await h.message(msg)
                return msg, reqs, h.double.most_in_flight.get("PATCH")

        msg, reqs, most_patches = run(scenario())

    assert expected.mode == "llm" and INVENTED not in expected.answer  # verification dropped the invention
    thread_id = int(msg["id"])
    posts = [r for r in reqs if r.method == "POST" and r.path == f"/channels/{thread_id}/messages"]
    assert [p.json["content"] for p in posts] == [STREAM_PLACEHOLDER]  # one message, posted at once...
    assert not any(r.path.endswith("/typing") for r in reqs)  # ...instead of "typing"
    drafts, final = stream_edits(reqs, f"/channels/{thread_id}/messages/")
    assert len({r.path for r in drafts + [final]}) == 1  # ...and only ever edited
    # The drafts grow as the model writes, each showing everything so far, marked unfinished.
    assert len(drafts) >= 2
    texts = [d.json["content"] for d in drafts]
    assert all(t.endswith(STREAM_CURSOR) for t in texts)
    bodies = [t[: -len(STREAM_CURSOR)] for t in texts]
    assert all(len(a) < len(b) and b.startswith(a) for a, b in zip(bodies, bodies[1:])), bodies
    streamed = escape(llm.streamed[-1].strip())  # the model's raw reply, invention and all
    assert INVENTED in streamed and all(streamed.startswith(b) for b in bodies)
    assert all(not d.json.get("embeds") for d in drafts)
    assert all(no_pings(d.json.get("allowed_mentions")) for d in drafts + [final])
    # Rate-limit safe: edits at least STREAM_EDIT_INTERVAL apart, counted from when the previous edit
    # finished (0.3 s here), so never two in flight.
    assert_cadence(drafts + [final], STREAM_EDIT_INTERVAL + 0.3)
    assert most_patches == 1
    # The final edit is the verified answer as the bot renders it, with its sources embed, linked.
    contents, embed = render_answer(expected)
    assert len(contents) == 1
    assert final.json["content"] == contents[0]
    assert INVENTED not in final.json["content"] and "dropped 1 sentence" in final.json["content"]
    assert final.json["embeds"] == [build_embed(expected).to_dict()]
    assert "[link](https://news.example/000)" in final.json["embeds"][0]["fields"][0]["value"]


@pytest.mark.slow  # timing: the stream's edit pacing
def test_discord_llm_dying_mid_stream_ends_with_the_extractive_answer(monkeypatch, linked_dir):
    from bot.discord_render import LLM_UNAVAILABLE_NOTE, STREAM_EDIT_INTERVAL, render_answer
    from retrieval.api import Engine

    from llm_double import ScriptedLLM, Step

    partial = "Kursk was never entered by anyone, says a source that was cut off midway"
    # The stream stops without the model saying it has finished: the connection was cut.
    with ScriptedLLM([Step(text=partial, finish_reason=None)]) as llm:
        settings = llm_settings(linked_dir, llm.url, llm_retries=2)
        engine = Engine(settings)
        expected = engine.answer(CITED_Q, k=settings.k, mode="llm", on_token=lambda _: None)  # streamed, as the bot does
        paced = PacedEngine(engine, pace=0.25)

        async def scenario():
            async with running_bot(monkeypatch, settings, paced) as h:
                msg = h.double.dm_message(CITED_Q)
                return msg, await h.message(msg), h.double

        msg, reqs, double = run(scenario())
        asked = len(llm.requests)

    assert asked == 2  # once for `expected`, once for the bot: a stream that broke after showing text is not retried
    assert "".join(paced.tokens) == partial  # the bot was streamed the partial answer
    assert expected.mode == "extractive" and "August 2024" in expected.answer
    drafts, final = stream_edits(reqs, f"/channels/{DM_CHANNEL_ID}/messages/")
    assert "never entered" in drafts[-1].json["content"]  # the user saw the partial draft...
    contents, embed = render_answer(expected)
    assert final.json["content"] == contents[0]  # ...and then the extractive answer replaced it
    assert "never entered" not in final.json["content"] and "August 2024" in final.json["content"]
    assert "stream ended before the model finished" in final.json["content"]  # says why it isn't the model's
    assert LLM_UNAVAILABLE_NOTE not in final.json["content"]  # that generic note is for notes naming an endpoint
    assert final.json["embeds"][0]["fields"] and "news.example" in str(final.json["embeds"])
    assert_cadence(drafts + [final], STREAM_EDIT_INTERVAL)
    reply = next(r for r in reqs if r.method == "POST" and r.path == f"/channels/{DM_CHANNEL_ID}/messages")
    assert str(reply.json["message_reference"]["message_id"]) == msg["id"]  # the draft replies to the DM
    assert double.message(DM_CHANNEL_ID, final.path.rsplit("/", 1)[1])["content"] == contents[0]


@pytest.mark.slow  # timing: the stream's edit pacing
def test_discord_llm_slash_ask_streams_into_its_followup(monkeypatch, linked_dir):
    from bot.discord_render import STREAM_CURSOR, STREAM_EDIT_INTERVAL, build_embed, render_answer
    from retrieval.api import Engine

    from llm_double import ScriptedLLM

    with ScriptedLLM([llm_reply]) as llm:
        settings = llm_settings(linked_dir, llm.url)
        engine = Engine(settings)
        expected = engine.answer(CITED_Q, k=settings.k, mode="llm")
        paced = PacedEngine(engine, pace=0.07)

        async def scenario():
            async with running_bot(monkeypatch, settings, paced) as h:
                inter = h.double.slash("ask", {"question": CITED_Q})
                return inter, await h.interaction(inter)

        inter, reqs = run(scenario())

    assert reqs[0].json["type"] == 5  # deferred: "newsqa is thinking…"
    webhook = f"/webhooks/{APP_ID}/{inter['token']}"
    posts = [r for r in reqs if r.method == "POST" and r.path == webhook]
    assert len(posts) == 1 and posts[0].json["content"] == f"> {CITED_Q}\n\n…"  # the question, then the draft
    drafts, final = stream_edits(reqs, f"{webhook}/messages/")
    assert len(drafts) >= 2 and all(d.json["content"].startswith(f"> {CITED_Q}\n\n") for d in drafts)
    assert all(d.json["content"].endswith(STREAM_CURSOR) for d in drafts)
    assert len(drafts[-1].json["content"]) > len(drafts[0].json["content"])
    assert_cadence(drafts + [final], STREAM_EDIT_INTERVAL)
    contents, embed = render_answer(expected, echo=CITED_Q)
    assert final.json["content"] == contents[0] and final.json["embeds"] == [build_embed(expected).to_dict()]
    # The thread for follow-ups hangs off the edited message.
    message_id = final.path.rsplit("/", 1)[1]
    threads = thread_requests(reqs)
    assert [t.path for t in threads] == [f"/channels/{CHANNEL_ID}/messages/{message_id}/threads"]
    assert threads[0].at > final.at


class StreamingFixedEngine(FixedEngine):
    """Streams `tokens` (paced) and then gives a fixed answer, or raises."""

    def __init__(self, answer: Answer | None, tokens: list[str], pace: float = 0.2):
        super().__init__(answer)
        self.tokens = tokens
        self.pace = pace

    def answer(self, question, on_token=None, **kw):
        for t in self.tokens:
            time.sleep(self.pace)
            on_token(t)
        if self._answer is None:
            raise RuntimeError("the engine broke on purpose")
        return super().answer(question, **kw)


@pytest.mark.slow  # timing: the stream's edit pacing
def test_discord_llm_long_stream_shows_its_tail_and_final_is_split(monkeypatch, seeded_dir):
    from bot.discord_render import render_answer

    text = long_answer_text()
    answer = make_answer(text, [source(i, url=f"https://news.example/{i}") for i in range(1, 13)])
    chunks = [text[i:i + 900] for i in range(0, len(text), 900)]
    engine = StreamingFixedEngine(answer, chunks, pace=0.2)

    async def scenario():
        async with running_bot(monkeypatch, make_settings(seeded_dir, mode="llm"), engine) as h:
            msg = h.double.guild_message("tell me everything about kursk")
            await h.message(msg)
            return int(msg["id"]), h.double.requests

    thread_id, reqs = run(scenario())
    drafts, final = stream_edits(reqs, f"/channels/{thread_id}/messages/")
    assert drafts and all(len(d.json["content"]) <= MESSAGE_LIMIT for d in drafts)
    assert drafts[-1].json["content"].startswith("…")  # past 2,000 characters: the tail, not the start
    assert "Paragraph 3" in drafts[-1].json["content"]
    contents, embed = render_answer(answer)
    assert len(contents) >= 4
    # The first message becomes the first part; the rest are new messages, the last with the sources.
    assert final.json["content"] == contents[0] and final.json["embeds"] == []
    posts = [r for r in reqs if r.method == "POST" and r.path == f"/channels/{thread_id}/messages"]
    assert [p.json["content"] for p in posts[1:]] == contents[1:]
    assert posts[-1].json["embeds"] == [embed.to_dict()] and all(not p.json.get("embeds") for p in posts[:-1])
    assert all(p.at > final.at for p in posts[1:])


@pytest.mark.slow  # timing: the stream's edit pacing
def test_discord_llm_failure_while_streaming_turns_the_draft_into_an_apology(monkeypatch, seeded_dir, caplog):
    engine = StreamingFixedEngine(None, ["Kursk was ", "retaken by "], pace=0.1)

    async def scenario():
        async with running_bot(monkeypatch, make_settings(seeded_dir, mode="llm"), engine) as h:
            msg = h.double.dm_message(CITED_Q)
            reqs = await h.message(msg)
            inter = h.double.slash("ask", {"question": CITED_Q})
            return reqs, await h.interaction(inter)

    dm, slash = run(scenario())
    for reqs in (dm, slash):
        posts = [r for r in reqs if r.sends_message and r.method == "POST" and "callback" not in r.path]
        assert len(posts) == 1  # the draft, and no separate apology
        assert [r for r in reqs if r.edits_message][-1].json["content"] == APOLOGY
    assert not thread_requests(slash)  # no thread on an apology
    assert any("broke on purpose" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


# --------------------------------------------------------------------------------------------
# /sources pages through large indexes
# --------------------------------------------------------------------------------------------


class ListingEngine:
    """An index of `n` articles (only `sources()` is used): article i is dated i days into 2025."""

    def __init__(self, n: int):
        from datetime import date, timedelta

        self.records = {}
        for i in range(1, n + 1):
            d = (date(2025, 1, 1) + timedelta(days=i)).isoformat()
            self.records[f"doc{i:03d}.txt"] = SimpleNamespace(doc=f"doc{i:03d}.txt", title=f"Story {i:03d}",
                                                              outlet="Wire", date=d,
                                                              url=f"https://news.example/{i}" if i % 2 else "")

    def sources(self):
        return dict(self.records)


def listed(embed: dict) -> list[str]:
    return re.findall(r"Story (\d{3})", embed["description"])


def buttons(body: dict) -> dict[str, dict]:
    return {b["custom_id"]: b for row in body.get("components") or [] for b in row["components"]}


def test_discord_sources_pages_with_buttons(monkeypatch, seeded_dir):
    from bot.discord_render import SOURCES_PER_PAGE

    engine = ListingEngine(45)
    newest = [f"{i:03d}" for i in range(45, 0, -1)]

    async def scenario():
        async with running_bot(monkeypatch, make_settings(seeded_dir), engine) as h:
            d = h.double
            first = await h.interaction(d.slash("sources"))
            shown = d.messages[CHANNEL_ID][-1]  # the ephemeral listing, with its buttons
            nxt = await h.interaction(d.button_press(shown, "newsqa:sources:next"))
            again = await h.interaction(d.button_press(d.message(CHANNEL_ID, shown["id"]), "newsqa:sources:next"))
            back = await h.interaction(d.button_press(d.message(CHANNEL_ID, shown["id"]), "newsqa:sources:previous"))
            stranger = await h.interaction(d.button_press(shown, "newsqa:sources:next", user_id=USER_ID + 9))
            direct = await h.interaction(d.slash("sources", {"page": 3}))
            return first, nxt, again, back, stranger, direct, d.message(CHANNEL_ID, shown["id"])

    first, nxt, again, back, stranger, direct, final_state = run(scenario())
    assert SOURCES_PER_PAGE == 20
    page1 = first[1].json
    assert page1["flags"] == 64  # only the asker sees it
    assert page1["embeds"][0]["title"] == "45 indexed articles"
    assert page1["embeds"][0]["footer"]["text"].startswith("Page 1 of 3")
    assert listed(page1["embeds"][0]) == newest[:20]
    lines = page1["embeds"][0]["description"].splitlines()
    assert lines[0] == "• [Wire — Story 045](https://news.example/45) · 2025-02-15"  # linked when it has a URL
    assert lines[1] == "• Wire — Story 044 · 2025-02-14"  # plain when it hasn't
    b = buttons(page1)
    assert set(b) == {"newsqa:sources:previous", "newsqa:sources:next"}
    assert b["newsqa:sources:previous"].get("disabled") and not b["newsqa:sources:next"].get("disabled")
    # A press on Next: discord.py dispatches it to the view, which updates the message (type 7).
    (update,) = [r for r in nxt if r.path.endswith("/callback")]
    assert update.json["type"] == 7
    page2 = update.json["data"]
    assert page2["embeds"][0]["footer"]["text"].startswith("Page 2 of 3")
    assert listed(page2["embeds"][0]) == newest[20:40]
    assert not any(x.get("disabled") for x in buttons(page2).values())
    assert no_pings(page2.get("allowed_mentions"))
    page3 = again[0].json["data"]
    assert listed(page3["embeds"][0]) == newest[40:] and page3["embeds"][0]["footer"]["text"].startswith("Page 3 of 3")
    assert buttons(page3)["newsqa:sources:next"].get("disabled")
    assert back[0].json["data"]["embeds"][0]["footer"]["text"].startswith("Page 2 of 3")
    # Someone else's press is refused, ephemerally, and the listing stays on its page.
    assert stranger[0].json["type"] == 4 and stranger[0].json["data"]["flags"] == 64
    assert "Only the person who ran /sources" in stranger[0].json["data"]["content"]
    assert final_state["embeds"][0]["footer"]["text"].startswith("Page 2 of 3")
    # `/sources page:3` opens at that page.
    assert listed(direct[1].json["embeds"][0]) == newest[40:]


def test_discord_sources_embed_fits_for_10k_articles():
    from bot.discord_bot import SourcesPager
    from bot.discord_render import EMBED_DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT, newest_first

    records = {f"d{i}": SimpleNamespace(doc=f"d{i}", title="T" * 300 + f" {i}", outlet="O" * 300,
                                        date=f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}",
                                        url=f"https://news.example/{'x' * 150}/{i}")
               for i in range(10_000)}
    rows = newest_first(records)
    assert rows[0].date == "2024-12-28"

    async def pages():
        pager = SourcesPager(rows, owner_id=USER_ID, page=9999)
        return pager.pages, pager.page, pager.embed()

    count, page, embed = run(pages())
    assert count == page == 500  # clamped to the last page
    assert len(embed.description) <= EMBED_DESCRIPTION_LIMIT and len(embed) <= EMBED_TOTAL_LIMIT
    assert len(embed.description.splitlines()) == 20


# --------------------------------------------------------------------------------------------
# `newsqa discord`: token problems exit 2 with one line, never a traceback or the token
# --------------------------------------------------------------------------------------------


def _env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "NEWSQA_DISCORD_TOKEN")}
    env.update({"PYTHONPATH": str(ROOT), "NEWSQA_DATA_DIR": str(tmp_path / "data"), **extra})
    return env


def test_discord_no_token_exits_2_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bot.cli", "discord"], cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("newsqa: error:") and "DISCORD_TOKEN" in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout


def test_discord_rejected_token_exits_2_without_showing_it(tmp_path, seeded_dir):
    bad = "rejected.token-value.abc123"
    script = ("import sys, discord.http, discord.gateway, yarl\n"
              "discord.http.Route.BASE = sys.argv[1]\n"
              "discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sys.argv[2])\n"
              "from bot.cli import main\n"
              "sys.argv = ['newsqa', 'discord']\n"
              "main()\n")
    with double_in_thread() as double:
        proc = subprocess.run([sys.executable, "-c", script, double.api_base, double.gateway_url], cwd=tmp_path,
                              env=_env(tmp_path, DISCORD_TOKEN=bad, NEWSQA_DATA_DIR=str(seeded_dir)),
                              capture_output=True, text=True, timeout=120)
        tried = [(r.method, r.path, r.authorization) for r in double.requests]
    assert ("GET", "/users/@me", f"Bot {bad}") in tried  # discord.py really tried the token...
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("newsqa: error:") and "DISCORD_TOKEN" in last
    assert "Traceback" not in proc.stderr
    assert bad not in proc.stderr + proc.stdout  # ...and never showed it


def test_discord_gateway_rejecting_token_raises_config_error(monkeypatch, seeded_dir):
    with double_in_thread(gateway_close_code=4004) as double:
        double.patch(monkeypatch)
        settings = make_settings(seeded_dir, discord_token=TOKEN)
        with pytest.raises(ConfigError) as info:
            run_bot(settings)
    assert info.value.exit_code == 2 and "DISCORD_TOKEN" in str(info.value)
    assert TOKEN not in str(info.value)


def test_discord_run_bot_without_token_raises_config_error(seeded_dir):
    with pytest.raises(ConfigError) as info:
        run_bot(make_settings(seeded_dir, discord_token=None))
    assert info.value.exit_code == 2
    assert str(info.value) == "DISCORD_TOKEN is not set; put it in the environment or .env"
    with pytest.raises(ConfigError):
        run_bot(make_settings(seeded_dir, discord_token="   "))


def test_discord_login_failure_in_process_raises_config_error(monkeypatch, seeded_dir):
    async def fail_login(self, token):
        raise discord.LoginFailure("Improper token has been passed.")

    monkeypatch.setattr(discord.Client, "login", fail_login)
    with pytest.raises(ConfigError) as info:
        run_bot(make_settings(seeded_dir, discord_token="whatever"))
    assert info.value.exit_code == 2 and "DISCORD_TOKEN" in str(info.value)


def test_discord_notes_never_name_an_endpoint():
    from bot.discord_render import LLM_UNAVAILABLE_NOTE, render_answer
    from retrieval.types import Answer, Fallback, Sentence, Source

    notes = [
        "the language model failed (could not connect to http://***@10.0.0.7:8080/v1; 3 attempts); "
        "showing the extractive answer",
        "the language model failed (no reply within 60 s; could not connect to llm.internal.example:8443); "
        "showing the extractive answer",
        "the Chroma server at [::1]:8000 answered slowly",
        "removed citations of sources that were not given: [7]",
    ]
    src = Source(n=1, doc="a.txt", title="T", outlet="O", date="2025-04-26", text="Kursk was retaken.", start=0, end=18)
    answer = Answer(question="q", answer="Kursk was retaken [1].", abstained=False, sources=[src],
                    sentences=[Sentence("Kursk was retaken.", [1], True)], mode="extractive", notes=notes,
                    fallback=Fallback("failed", notes[0].removesuffix("; showing the extractive answer")))
    contents, _ = render_answer(answer)
    text = "\n".join(contents)
    for leak in ("http", "10.0.0.7", "llm.internal", "8443", "::1", "***"):
        assert leak not in text, leak
    assert text.count(LLM_UNAVAILABLE_NOTE) == 1  # two fallback notes, said once
    assert "removed citations of sources that were not given: [7]" in text  # harmless notes stay

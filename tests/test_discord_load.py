"""Load on the Discord bot through discord.py's own code paths (the loopback double), answered by
the real engine on the bundled corpus: 50 questions arriving at once from 10 users in 5 channels,
then a second round that the per-user rate limit must refuse.

Figures (throughput, p50/p95 time to answer, worst event-loop lag, RSS growth) are printed; run
with `pytest -s` to see them. Bounds are generous: a busy 2-core machine must not fail them.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time

import pytest

from bot.discord_render import render_answer
from retrieval.config import Settings

import discord_double
from conftest import CORPUS_QUESTIONS
from discord_double import (
    CHANNEL_ID,
    GUILD_ID,
    OTHER_CHANNEL_ID,
    USER_ID,
    running_bot,
    settle,
    text_channel_payload,
    user_payload,
)

pytestmark = pytest.mark.slow  # soak: 50 questions from 10 users at once

QUESTIONS = [*CORPUS_QUESTIONS, "Why did North Korea pull its troops out of Kursk in March?"]
EXTRA_CHANNELS = [CHANNEL_ID + 100 + i for i in range(3)]
CHANNELS = [CHANNEL_ID, OTHER_CHANNEL_ID] + EXTRA_CHANNELS
USERS = [user_payload(USER_ID + 100 + i, f"reader{i}") for i in range(10)]


class TimedList(list):
    """The double's request log, with the time each request arrived."""

    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def append(self, item) -> None:
        self.times.append(time.perf_counter())
        super().append(item)


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]


def test_discord_load_50_questions_10_users_5_channels(monkeypatch, shared_engine, seeded_dir):
    base_guild = discord_double.guild_payload

    def guild_with_five_channels() -> dict:
        g = base_guild()
        g["channels"] += [text_channel_payload(c, f"desk-{i}") for i, c in enumerate(EXTRA_CHANNELS)]
        return g

    monkeypatch.setattr(discord_double, "guild_payload", guild_with_five_channels)
    settings = Settings(_env_file=None, data_dir=seeded_dir, mode="extractive", discord_test_guild=GUILD_ID)
    assert settings.discord.rate_per_minute == 5 and settings.discord.max_concurrent == 2  # the defaults
    # What each question must get: the single-threaded answer, rendered as the bot renders it.
    expected = {q: render_answer(shared_engine.answer(q, k=settings.k, mode=settings.mode))[0] for q in QUESTIONS}

    async def burst(h, msgs):
        waiters = [asyncio.ensure_future(h.client.wait_for("message", check=lambda m, i=int(x["id"]): m.id == i,
                                                           timeout=60)) for x in msgs]
        await asyncio.sleep(0)
        sent_at = {}
        for m in msgs:
            sent_at[m["id"]] = time.perf_counter()
            await h.double.dispatch("MESSAGE_CREATE", m)
        await asyncio.gather(*waiters)
        await settle(timeout=900)
        return sent_at

    async def scenario():
        async with running_bot(monkeypatch, settings, shared_engine) as h:
            h.double.requests = TimedList()
            lags: list[float] = []

            async def ticker():
                interval = 0.05
                while True:
                    due = time.perf_counter() + interval
                    await asyncio.sleep(interval)
                    lags.append(time.perf_counter() - due)

            tick = asyncio.ensure_future(ticker())
            rss0 = rss_bytes()
            # Round 1: 5 questions from each of 10 users, spread over 5 channels, all at once.
            first = []
            for n in range(50):
                user, channel = USERS[n % 10], CHANNELS[(n // 10 + n) % 5]
                q = QUESTIONS[n % len(QUESTIONS)]
                first.append((q, h.double.guild_message(q, author=user, channel_id=channel)))
            t0 = time.perf_counter()
            sent1 = await burst(h, [m for _, m in first])
            t1 = time.perf_counter()
            # Round 2, within the same minute: one more from each user, all of which are refused.
            second = [(QUESTIONS[0], h.double.guild_message(QUESTIONS[0], author=u, channel_id=CHANNELS[i % 5]))
                      for i, u in enumerate(USERS)]
            sent2 = await burst(h, [m for _, m in second])
            rss1 = rss_bytes()
            tick.cancel()
            return h.double.requests, first, second, sent1, sent2, t1 - t0, lags, rss0, rss1

    reqs, first, second, sent1, sent2, elapsed, lags, rss0, rss1 = run(scenario())

    def posts_to(channel_id: int):
        path = f"/channels/{channel_id}/messages"
        return [(t, r) for t, r in zip(reqs.times, reqs) if r.method == "POST" and r.path == path]

    def replies_to(msg: dict):
        return [(t, r) for t, r in posts_to(int(msg["channel_id"]))
                if str(((r.json or {}).get("message_reference") or {}).get("message_id")) == msg["id"]]

    # Round 1: every question answered in its own thread (a thread shares its message's id), with
    # exactly the single-threaded answer; no refusals.
    latencies = []
    for q, msg in first:
        thread_path = f"/channels/{msg['channel_id']}/messages/{msg['id']}/threads"
        opened = [r for r in reqs if r.method == "POST" and r.path == thread_path]
        assert len(opened) == 1, q
        posted = posts_to(int(msg["id"]))
        assert [r.json["content"] for _, r in posted] == expected[q], q
        assert replies_to(msg) == []  # no rate-limit reply
        latencies.append(posted[-1][0] - sent1[msg["id"]])
    # Round 2: every sixth question in the minute refused with the polite reply, never answered.
    for _, msg in second:
        assert not [r for r in reqs if r.path.endswith(f"/messages/{msg['id']}/threads")]
        assert posts_to(int(msg["id"])) == []
        reply = replies_to(msg)
        assert len(reply) == 1
        assert "5 questions in the last minute" in reply[0][1].json["content"]
    # The per-user limit held: exactly 5 answers per user, each user's 6th refused.
    per_user = {}
    for _, msg in first:
        if posts_to(int(msg["id"])):
            per_user[msg["author"]["id"]] = per_user.get(msg["author"]["id"], 0) + 1
    assert per_user == {u["id"]: 5 for u in USERS}
    assert len({msg["channel_id"] for _, msg in first}) == 5

    worst_lag = max(lags)
    growth = rss1 - rss0
    p50, p95 = statistics.median(latencies), percentile(latencies, 95)
    print(f"\ndiscord load: 50 questions (10 users x 5, 5 channels) answered in {elapsed:.2f} s = "
          f"{50 / elapsed:.1f} answers/s; time to answer p50 {p50:.2f} s, p95 {p95:.2f} s, max {max(latencies):.2f} s; "
          f"worst event-loop lag {worst_lag * 1000:.0f} ms over {len(lags)} ticks; "
          f"RSS {rss0 / 2**20:.0f} -> {rss1 / 2**20:.0f} MB ({growth / 2**20:+.1f} MB)")
    assert lags  # the ticker ran while the bot answered
    assert worst_lag < 1.0  # the loop never stalled: answers run on worker threads
    assert growth < 300 * 2**20  # generous: the engine is already loaded, the bot holds no per-question state


def run(coro):
    return asyncio.run(coro)

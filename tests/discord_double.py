"""A loopback double of Discord's REST API and gateway, for driving the bot offline.

discord.py is pointed at it by patching two class attributes (`discord.http.Route.BASE` and
`discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`); everything else is discord.py's own code:
it logs in over HTTP, syncs the slash commands, connects a websocket, identifies, parses the
READY / GUILD_CREATE / MESSAGE_CREATE / INTERACTION_CREATE payloads we send (slash commands and
button presses), dispatches commands and views, builds every request (routes, JSON bodies,
headers) and sends it over a real socket. The double records each request (method, path, query,
JSON, arrival time), keeps the messages it creates and edits (PATCH) up to date, and answers with
plausible JSON.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from aiohttp import WSMsgType, web

TOKEN = "test.bot-token.never-shown"
BOT_ID = 1100000000000000001
APP_ID = BOT_ID
OWNER_ID = 1100000000000000099
GUILD_ID = 1200000000000000001
BOT_ROLE_ID = 1200000000000000002
CHANNEL_ID = 1300000000000000001
OTHER_CHANNEL_ID = 1300000000000000002
USER_ID = 1400000000000000001
DM_CHANNEL_ID = 1500000000000000001
API = "/api/v10"

_ids = itertools.count(1600000000000000001)


def snowflake() -> int:
    return next(_ids)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def user_payload(user_id: int, name: str, bot: bool = False) -> dict:
    return {"id": str(user_id), "username": name, "discriminator": "0", "global_name": name, "avatar": None,
            "bot": bot, "public_flags": 0, "flags": 0}


BOT_USER = user_payload(BOT_ID, "newsqa", bot=True)


def member_payload(user: dict, roles: tuple = ()) -> dict:
    return {"user": user, "roles": [str(r) for r in roles], "joined_at": "2025-01-01T00:00:00+00:00",
            "deaf": False, "mute": False, "flags": 0, "nick": None, "avatar": None, "pending": False,
            "premium_since": None, "communication_disabled_until": None}


def text_channel_payload(channel_id: int, name: str) -> dict:
    return {"id": str(channel_id), "type": 0, "guild_id": str(GUILD_ID), "name": name, "position": 0,
            "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None, "rate_limit_per_user": 0,
            "last_message_id": None, "flags": 0}


def guild_payload() -> dict:
    everyone = {"id": str(GUILD_ID), "name": "@everyone", "permissions": "1071698660929", "position": 0,
                "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}
    bot_role = {"id": str(BOT_ROLE_ID), "name": "newsqa", "permissions": "1071698660929", "position": 1,
                "color": 0, "hoist": False, "managed": True, "mentionable": False, "flags": 0,
                "tags": {"bot_id": str(BOT_ID)}}
    return {
        "id": str(GUILD_ID), "name": "Newsroom", "icon": None, "splash": None, "discovery_splash": None,
        "owner_id": str(OWNER_ID), "afk_channel_id": None, "afk_timeout": 300, "verification_level": 0,
        "default_message_notifications": 0, "explicit_content_filter": 0, "roles": [everyone, bot_role],
        "emojis": [], "features": [], "mfa_level": 0, "application_id": None, "system_channel_id": None,
        "system_channel_flags": 0, "rules_channel_id": None, "vanity_url_code": None, "description": None,
        "banner": None, "premium_tier": 0, "preferred_locale": "en-US", "public_updates_channel_id": None,
        "nsfw_level": 0, "stickers": [], "premium_progress_bar_enabled": False,
        "joined_at": "2025-01-01T00:00:00+00:00", "large": False, "unavailable": False, "member_count": 2,
        "voice_states": [], "members": [member_payload(BOT_USER, (BOT_ROLE_ID,))],
        "channels": [text_channel_payload(CHANNEL_ID, "news"), text_channel_payload(OTHER_CHANNEL_ID, "random")],
        "threads": [], "presences": [], "stage_instances": [], "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def message_payload(channel_id: int, author: dict, content: str, *, guild_id: int | None = None,
                    mentions: tuple = (), message_id: int | None = None, embeds: list | None = None,
                    reference: dict | None = None, flags: int = 0, webhook_id: int | None = None) -> dict:
    data = {
        "id": str(message_id or snowflake()), "channel_id": str(channel_id), "author": author, "content": content,
        "timestamp": now_iso(), "edited_timestamp": None, "tts": False, "mention_everyone": False,
        "mentions": list(mentions), "mention_roles": [], "attachments": [], "embeds": embeds or [],
        "pinned": False, "type": 19 if reference else 0, "flags": flags, "components": [],
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
        if not author.get("bot"):
            data["member"] = {k: v for k, v in member_payload(author).items() if k != "user"}
    if reference:
        data["message_reference"] = reference
    if webhook_id is not None:
        data["webhook_id"] = str(webhook_id)
    return data


@dataclass
class Request:
    method: str
    path: str  # without the /api/v10 prefix
    query: dict
    json: Any
    authorization: str | None
    at: float = field(default_factory=time.monotonic)  # when it arrived

    @property
    def sends_message(self) -> bool:
        """Posts or edits a message (content or embeds), directly or as an interaction callback."""
        data = (self.json.get("data") or {}) if isinstance(self.json, dict) else {}
        return isinstance(self.json, dict) and ("content" in self.json or "embeds" in self.json
                                                or "content" in data or "embeds" in data)

    @property
    def edits_message(self) -> bool:
        """A PATCH of a channel message or of an interaction's follow-up."""
        return self.method == "PATCH" and "/messages/" in self.path


@dataclass
class DiscordDouble:
    token: str = TOKEN
    gateway_close_code: int | None = None  # e.g. 4004: reject the token at IDENTIFY
    requests: list[Request] = field(default_factory=list)
    messages: dict[int, list[dict]] = field(default_factory=dict)  # channel id -> messages, oldest first
    interactions: dict[str, dict] = field(default_factory=dict)  # interaction token -> payload
    fail: dict[str, int] = field(default_factory=dict)  # "METHOD path-regex" -> status to answer with
    delay: dict[str, float] = field(default_factory=dict)  # "METHOD path-regex" -> seconds before answering
    most_in_flight: dict[str, int] = field(default_factory=dict)  # method -> most requests open at once

    def __post_init__(self):
        self._runner: web.AppRunner | None = None
        self._ws: web.WebSocketResponse | None = None
        self._seq = 0
        self._in_flight: dict[str, int] = {}
        self.identified = asyncio.Event()
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> DiscordDouble:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", API + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def patch(self, monkeypatch) -> None:
        import discord.gateway
        import discord.http
        import yarl

        monkeypatch.setattr(discord.http.Route, "BASE", self.api_base)
        monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(self.gateway_url))

    # -- the gateway -------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            if frame["op"] == 1:
                await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
            elif frame["op"] == 2:
                if self.gateway_close_code or frame["d"]["token"] != self.token:
                    await ws.close(code=self.gateway_close_code or 4004, message=b"Authentication failed.")
                    break
                ready = {"v": 10, "user": BOT_USER, "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
                         "session_id": "session-1", "resume_gateway_url": self.gateway_url,
                         "application": {"id": str(APP_ID), "flags": 0}, "private_channels": [],
                         "relationships": [], "presences": []}
                await self.dispatch("READY", ready)
                await self.dispatch("GUILD_CREATE", guild_payload())
                self.identified.set()
        return ws

    async def dispatch(self, event: str, data: dict) -> None:
        assert self._ws is not None, "the bot has not connected to the gateway"
        self._seq += 1
        await self._ws.send_json({"op": 0, "t": event, "s": self._seq, "d": data})

    # -- REST --------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.Response:
        method = request.method
        self._in_flight[method] = self._in_flight.get(method, 0) + 1
        self.most_in_flight[method] = max(self.most_in_flight.get(method, 0), self._in_flight[method])
        try:
            return await self._answer(request)
        finally:
            self._in_flight[method] -= 1

    async def _answer(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body = await request.read()
        payload = json.loads(body) if body and request.content_type == "application/json" else None
        rec = Request(request.method, path, dict(request.query), payload, request.headers.get("Authorization"))
        self.requests.append(rec)
        for key, seconds in self.delay.items():
            method, pattern = key.split(" ", 1)
            if method == request.method and re.fullmatch(pattern, path):
                await asyncio.sleep(seconds)
        for key, status in self.fail.items():
            method, pattern = key.split(" ", 1)
            if method == request.method and re.fullmatch(pattern, path):
                return _json({"message": "failed on purpose", "code": 0}, status=status)
        authed = request.headers.get("Authorization") == f"Bot {self.token}"
        route = f"{request.method} {path}"

        if route == "GET /users/@me":
            if not authed:
                return _json({"message": "401: Unauthorized", "code": 0}, status=401)
            return _json(BOT_USER)
        if route == "GET /oauth2/applications/@me":
            return _json({
                "id": str(APP_ID), "name": "newsqa", "description": "", "icon": None, "bot_public": True,
                "bot_require_code_grant": False, "owner": user_payload(OWNER_ID, "owner"), "verify_key": "0" * 64,
                "flags": 0, "rpc_origins": [], "team": None, "summary": "", "interactions_endpoint_url": None})
        if m := re.fullmatch(r"PUT /applications/(\d+)(?:/guilds/(\d+))?/commands", route):
            out = []
            for cmd in payload or []:
                out.append({**cmd, "id": str(snowflake()), "application_id": m.group(1), "version": "1",
                            "guild_id": m.group(2), "default_member_permissions": None, "type": cmd.get("type", 1)})
            return _json(out)
        if re.fullmatch(r"POST /channels/\d+/typing", route):
            return web.Response(status=204)
        if m := re.fullmatch(r"POST /channels/(\d+)/messages", route):
            channel_id = int(m.group(1))
            guild_id = None if channel_id == DM_CHANNEL_ID else GUILD_ID
            msg = message_payload(channel_id, BOT_USER, (payload or {}).get("content") or "", guild_id=guild_id,
                                  embeds=(payload or {}).get("embeds"), reference=(payload or {}).get("message_reference"))
            self.messages.setdefault(channel_id, []).append(msg)
            return _json(msg)
        if m := re.fullmatch(r"GET /channels/(\d+)/messages/(\d+)", route):
            found = [x for x in self.messages.get(int(m.group(1)), []) if x["id"] == m.group(2)]
            if not found:
                return _json({"message": "Unknown Message", "code": 10008}, status=404)
            return _json(found[0])
        if m := re.fullmatch(r"GET /channels/(\d+)/messages", route):
            msgs = list(reversed(self.messages.get(int(m.group(1)), [])))  # newest first
            before = request.query.get("before")
            if before:
                msgs = [x for x in msgs if int(x["id"]) < int(before)]
            return _json(msgs[: int(request.query.get("limit", 50))])
        if m := re.fullmatch(r"POST /channels/(\d+)/(?:messages/(\d+)/)?threads", route):
            thread = self.thread_payload(int(m.group(1)), int(m.group(2) or snowflake()), payload["name"])
            await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
            return _json(thread, status=201)
        if m := re.fullmatch(r"PATCH /channels/(\d+)/messages/(\d+)", route):
            return self._edit(int(m.group(1)), m.group(2), payload)
        if m := re.fullmatch(r"PATCH /webhooks/(\d+)/([^/]+)/messages/(\d+)", route):
            inter = self.interactions.get(m.group(2), {})
            return self._edit(int(inter.get("channel_id", CHANNEL_ID)), m.group(3), payload)
        if m := re.fullmatch(r"POST /interactions/(\d+)/([^/]+)/callback", route):
            inter = self.interactions.get(m.group(2), {})
            if payload["type"] == 7 and inter.get("message"):  # UPDATE_MESSAGE: a button edits its message
                self._edit(int(inter["channel_id"]), inter["message"]["id"], payload.get("data") or {})
            data = {"interaction": {"id": m.group(1), "type": inter.get("type", 2),
                                    "response_message_loading": payload["type"] == 5,
                                    "response_message_ephemeral": bool(((payload.get("data") or {}).get("flags") or 0)
                                                                       & 64)}}
            return _json(data)
        if m := re.fullmatch(r"POST /webhooks/(\d+)/([^/]+)", route):
            inter = self.interactions.get(m.group(2), {})
            channel_id = int(inter.get("channel_id", CHANNEL_ID))
            msg = message_payload(channel_id, BOT_USER, (payload or {}).get("content") or "",
                                  guild_id=int(inter["guild_id"]) if inter.get("guild_id") else None,
                                  embeds=(payload or {}).get("embeds"), flags=(payload or {}).get("flags") or 0,
                                  webhook_id=APP_ID)
            msg["components"] = (payload or {}).get("components") or []
            self.messages.setdefault(channel_id, []).append(msg)
            if request.query.get("wait") in ("true", "1", "True"):
                return _json(msg)
            return web.Response(status=204)
        return _json({"message": "404: Not Found", "code": 0}, status=404)

    def _edit(self, channel_id: int, message_id: str, payload: dict | None) -> web.Response:
        found = [x for x in self.messages.get(channel_id, []) if x["id"] == str(message_id)]
        if not found:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        msg = found[0]
        for key in ("content", "embeds", "components", "flags"):
            if key in (payload or {}):
                msg[key] = payload[key] if payload[key] is not None else ([] if key != "content" else "")
        msg["edited_timestamp"] = now_iso()
        return _json(msg)

    def message(self, channel_id: int, message_id: int | str) -> dict:
        """A message as it stands now (after its edits)."""
        return next(x for x in self.messages.get(channel_id, []) if x["id"] == str(message_id))

    # -- payloads the tests send -------------------------------------------------------------

    def thread_payload(self, parent_id: int, thread_id: int, name: str) -> dict:
        return {"id": str(thread_id), "guild_id": str(GUILD_ID), "parent_id": str(parent_id),
                "owner_id": str(BOT_ID), "type": 11, "name": name, "last_message_id": None,
                "rate_limit_per_user": 0, "message_count": 0, "member_count": 1, "flags": 0,
                "thread_metadata": {"archived": False, "auto_archive_duration": 1440,
                                    "archive_timestamp": now_iso(), "locked": False}}

    def guild_message(self, content: str, *, author: dict | None = None, channel_id: int = CHANNEL_ID,
                      mention_bot: bool = True) -> dict:
        author = author or user_payload(USER_ID, "reader")
        if mention_bot:
            content = f"<@{BOT_ID}> {content}"
        msg = message_payload(channel_id, author, content, guild_id=GUILD_ID,
                              mentions=(BOT_USER,) if mention_bot else ())
        self.messages.setdefault(channel_id, []).append(msg)
        return msg

    def dm_message(self, content: str, *, author: dict | None = None) -> dict:
        author = author or user_payload(USER_ID, "reader")
        msg = message_payload(DM_CHANNEL_ID, author, content)
        self.messages.setdefault(DM_CHANNEL_ID, []).append(msg)
        return msg

    def slash(self, name: str, options: dict | None = None, *, user_id: int = USER_ID,
              channel: dict | None = None, dm: bool = False) -> dict:
        """An INTERACTION_CREATE payload for a slash command synced to the guild."""
        user = user_payload(user_id, f"user{user_id % 1000}")
        token = f"interaction-token-{snowflake()}"
        kinds = {bool: 5, int: 4, str: 3}  # BOOLEAN, INTEGER, STRING
        data = {"id": str(snowflake()), "name": name, "type": 1,
                "options": [{"name": k, "type": kinds[type(v)], "value": v} for k, v in (options or {}).items()]}
        payload = {"id": str(snowflake()), "application_id": str(APP_ID), "type": 2, "data": data, "token": token,
                   "version": 1, "locale": "en-US", "app_permissions": "1071698660929", "entitlements": [],
                   "attachment_size_limit": 10485760, "authorizing_integration_owners": {"0": str(GUILD_ID)}}
        if dm:
            payload["channel_id"] = str(DM_CHANNEL_ID)
            payload["channel"] = {"id": str(DM_CHANNEL_ID), "type": 1, "recipients": [user]}
            payload["user"] = user
            payload["context"] = 1
        else:
            data["guild_id"] = str(GUILD_ID)
            ch = channel or text_channel_payload(CHANNEL_ID, "news")
            payload.update(guild_id=str(GUILD_ID), channel_id=ch["id"], channel=ch, context=0,
                           guild={"id": str(GUILD_ID), "locale": "en-US", "features": []},
                           guild_locale="en-US",
                           member={**member_payload(user), "permissions": "1071698660929"})
        self.interactions[token] = payload
        return payload

    def button_press(self, message: dict, custom_id: str, *, user_id: int = USER_ID) -> dict:
        """An INTERACTION_CREATE payload for a click on a button of `message` (a message dict the
        double holds, e.g. an ephemeral follow-up), as Discord sends it: type 3, the message attached."""
        user = user_payload(user_id, f"user{user_id % 1000}")
        token = f"interaction-token-{snowflake()}"
        channel_id = int(message["channel_id"])
        payload = {"id": str(snowflake()), "application_id": str(APP_ID), "type": 3, "token": token, "version": 1,
                   "data": {"custom_id": custom_id, "component_type": 2}, "message": message,
                   "locale": "en-US", "app_permissions": "1071698660929", "entitlements": [],
                   "attachment_size_limit": 10485760, "authorizing_integration_owners": {"0": str(GUILD_ID)},
                   "guild_id": str(GUILD_ID), "channel_id": str(channel_id),
                   "channel": text_channel_payload(channel_id, "news"), "context": 0,
                   "guild": {"id": str(GUILD_ID), "locale": "en-US", "features": []}, "guild_locale": "en-US",
                   "member": {**member_payload(user), "permissions": "1071698660929"}}
        self.interactions[token] = payload
        return payload

    # -- assertions helpers ------------------------------------------------------------------

    def sent(self, since: int = 0) -> list[Request]:
        """Requests that send a message (channel messages, webhook follow-ups, callbacks with content)."""
        return [r for r in self.requests[since:] if r.sends_message]

    def posted_to(self, channel_id: int, since: int = 0) -> list[Request]:
        return [r for r in self.requests[since:] if r.method == "POST" and r.path == f"/channels/{channel_id}/messages"]


def _json(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json", as Discord sends it: discord.py only decodes JSON with that type.
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


# -- driving a client against the double -------------------------------------------------------

HANDLER_TASKS = ("discord.py: on_message", "discord.py: on_interaction", "CommandTree-invoker",
                 "discord-ui-view-dispatch")


async def settle(timeout: float = 20.0) -> None:
    """Wait until the bot's event handlers and command invocations have finished."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        pending = [t for t in asyncio.all_tasks() if not t.done() and t.get_name().startswith(HANDLER_TASKS)]
        if not pending:
            return
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError(f"bot handlers still running: {pending}")
        await asyncio.wait(pending, timeout=remaining)


class Harness:
    """A started bot connected to a started double."""

    def __init__(self, double: DiscordDouble, client):
        self.double = double
        self.client = client

    async def send(self, event: str, data: dict) -> None:
        """Deliver a gateway event and wait until the bot has finished handling it."""
        client = self.client
        if event == "MESSAGE_CREATE":
            waiter = client.wait_for("message", check=lambda m: m.id == int(data["id"]), timeout=10)
        elif event == "INTERACTION_CREATE":
            waiter = client.wait_for("interaction", check=lambda i: i.id == int(data["id"]), timeout=10)
        else:
            waiter = asyncio.sleep(0.05)
        task = asyncio.ensure_future(waiter)
        await asyncio.sleep(0)
        await self.double.dispatch(event, data)
        await task
        await settle()

    async def message(self, data: dict) -> list[Request]:
        start = len(self.double.requests)
        await self.send("MESSAGE_CREATE", data)
        return self.double.requests[start:]

    async def interaction(self, data: dict) -> list[Request]:
        start = len(self.double.requests)
        await self.send("INTERACTION_CREATE", data)
        return self.double.requests[start:]


@asynccontextmanager
async def running_bot(monkeypatch, settings, engine):
    """Start the double and the real bot client (login, command sync, gateway) against it."""
    from bot.discord_bot import build_client

    double = await DiscordDouble().start()
    double.patch(monkeypatch)
    client = build_client(settings, engine, guild_ready_timeout=0.05)
    try:
        async with client:
            runner = asyncio.ensure_future(client.start(TOKEN))
            waiter = asyncio.ensure_future(client.wait_until_ready())
            done, _ = await asyncio.wait({runner, waiter}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
            if runner in done:
                runner.result()  # raises what went wrong
            assert waiter in done, "the bot never became ready"
            try:
                yield Harness(double, client)
            finally:
                await client.close()
                try:
                    await asyncio.wait_for(runner, 10)
                except Exception:  # noqa: BLE001 - closing ends the connection loop either way
                    pass
    finally:
        await double.stop()


@contextmanager
def double_in_thread(**kwargs):
    """A double serving from its own thread and loop, for code that runs its own event loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def make():
        return await DiscordDouble(**kwargs).start()

    double = asyncio.run_coroutine_threadsafe(make(), loop).result(10)
    try:
        yield double
    finally:
        asyncio.run_coroutine_threadsafe(double.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()

"""A scripted OpenAI-compatible server on 127.0.0.1 for the LLM-mode tests.

    with ScriptedLLM([status(429), reply("Kursk was retaken [1].")]) as llm:
        settings.llm.base_url = llm.url   # http://127.0.0.1:PORT/v1
        ...
    llm.requests  # the JSON bodies received, in order

Each request to /v1/chat/completions consumes the next step of the script (the last step
repeats). A step is a `Step`, or a callable taking the request body and returning reply text.
Replies stream as SSE when the request says stream=true, else come back as one JSON object.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Step:
    text: str | None = None  # the completion (None with status/raw)
    status: int = 200
    delay: float = 0.0  # seconds before answering (timeouts)
    raw: bytes | None = None  # an arbitrary body (garbage)
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)
    chunk_size: int = 7  # characters per streamed delta
    finish_reason: str = "stop"


def reply(text: str, **kw) -> Step:
    return Step(text=text, **kw)


def status(code: int, **kw) -> Step:
    body = json.dumps({"error": {"message": f"scripted {code}", "type": "scripted", "code": code}}).encode()
    return Step(status=code, raw=body, **kw)


def slow(seconds: float, text: str = "late [1].") -> Step:
    return Step(text=text, delay=seconds)


def garbage(body: bytes, content_type: str = "text/plain") -> Step:
    return Step(raw=body, content_type=content_type)


Script = list[Step | Callable[[dict], str]]


class ScriptedLLM:
    def __init__(self, script: Script, pace: float = 0.0):
        self.script = list(script)
        self.pace = pace  # seconds between streamed deltas: a model that writes at a human-visible speed
        self.requests: list[dict] = []
        self.streamed: list[str] = []  # the full text of each streamed completion
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, json.dumps({"object": "list", "data": [{"id": "x", "object": "model"}]}).encode())
                else:
                    self._send(404, b"{}")

            def do_POST(self):
                try:
                    length = int(self.headers.get("content-length") or 0)
                    body = json.loads(self.rfile.read(length) or b"{}")
                    if not self.path.rstrip("/").endswith("/chat/completions"):
                        self._send(404, b"{}")
                        return
                    with outer._lock:
                        outer.requests.append(body)
                        i = len(outer.requests) - 1
                        step = outer.script[min(i, len(outer.script) - 1)]
                    if callable(step):
                        step = Step(text=step(body))
                    if step.delay:
                        time.sleep(step.delay)
                    if step.raw is not None or step.status != 200:
                        self._send(step.status, step.raw or b"", step.content_type, step.headers)
                    elif body.get("stream"):
                        self._stream(step)
                    else:
                        self._send(200, json.dumps(_completion(step.text or "", step.finish_reason)).encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, code, data: bytes, ctype="application/json", headers=None):
                self.send_response(code)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, step: Step):
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                text = step.text or ""
                pieces = [text[i:i + step.chunk_size] for i in range(0, len(text), step.chunk_size)]
                events = [_chunk({"role": "assistant", "content": ""}, None)]
                events += [_chunk({"content": p}, None) for p in pieces]
                events.append(_chunk({}, step.finish_reason))
                outer.streamed.append(text)
                for e in events:
                    self.wfile.write(b"data: " + json.dumps(e).encode() + b"\n\n")
                    self.wfile.flush()
                    if outer.pace:
                        time.sleep(outer.pace)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        # A short poll: shutdown() waits for the next one (0.5 s by default, paid by every test).
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> ScriptedLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def messages(self, i: int = -1) -> list[dict]:
        return self.requests[i]["messages"]


def _chunk(delta: dict, finish) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "x",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _completion(text: str, finish: str) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "x",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

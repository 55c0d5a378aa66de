"""Open a page in headless Chromium over the DevTools pipe; collect requests and errors.

Test support only. Chromium is started with ``--remote-debugging-pipe``: it reads CDP
commands from fd 3 and writes replies and events to fd 4, each a JSON text ended by NUL.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--remote-debugging-pipe",
)


def chromium() -> str | None:
    """Path of Debian's chromium, or None."""
    return shutil.which("chromium")


@dataclass
class PageVisit:
    """What happened while a page loaded."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    screenshot_png: bytes = b""
    height_px: int = 0


class _Pipe:
    def __init__(self, argv: list[str]) -> None:
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def remap() -> None:
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=remap,  # noqa: PLW1509 - test helper, single-threaded start
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout_s: float = 30.0,
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {
            "id": self._next_id,
            "method": method,
            "params": params or {},
        }
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout_s
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout_s: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_child], [], [], max(left, 0))
            if not ready:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        text, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(text)

    def close(self) -> None:
        try:
            os.write(
                self._to_child,
                json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0",
            )
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=10)
        finally:
            os.close(self._to_child)
            os.close(self._from_child)


def visit(
    page: Path,
    profile_dir: Path,
    *,
    width_px: int = 1280,
    clip_top_px: int | None = None,
    clip_height_px: int = 2000,
) -> PageVisit:
    """Load `page` and screenshot it (whole page, or a band from `clip_top_px`)."""
    argv = [
        chromium() or "chromium",
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile_dir}",
        "about:blank",
    ]
    pipe = _Pipe(argv)
    try:
        return _visit(pipe, page, width_px, clip_top_px, clip_height_px)
    finally:
        pipe.close()


def _visit(
    pipe: _Pipe, page: Path, width_px: int, clip_top: int | None, clip_height: int
) -> PageVisit:
    target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})
    sid = session["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        pipe.send(f"{domain}.enable", session=sid)
    pipe.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width_px, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
        session=sid,
    )
    pipe.events.clear()
    pipe.send("Page.navigate", {"url": page.resolve().as_uri()}, session=sid)
    pipe.wait_event("Page.loadEventFired")
    pipe.send("Runtime.evaluate", {"expression": "1"}, session=sid)  # flush events
    metrics = pipe.send("Page.getLayoutMetrics", session=sid)
    height = int(metrics["cssContentSize"]["height"])
    top = clip_top if clip_top is not None else 0
    band = clip_height if clip_top is not None else min(height, 16000)
    shot = pipe.send(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": top, "width": width_px, "height": band, "scale": 1},
        },
        session=sid,
    )
    result = PageVisit(screenshot_png=base64.b64decode(shot["data"]), height_px=height)
    for event in pipe.events:
        _record(event, result, page.resolve().as_uri())
    return result


def _record(event: dict[str, Any], result: PageVisit, own_url: str) -> None:
    method, params = event.get("method"), event.get("params", {})
    if method == "Network.requestWillBeSent":
        url = params["request"]["url"]
        if url.split("#")[0] != own_url:
            result.requests.append(url)
    elif method == "Runtime.consoleAPICalled" and params.get("type") in (
        "error",
        "assert",
    ):
        result.console_errors.append(json.dumps(params.get("args", []))[:300])
    elif method == "Runtime.exceptionThrown":
        result.console_errors.append(str(params.get("exceptionDetails", {}))[:300])
    elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
        result.console_errors.append(params["entry"].get("text", "")[:300])

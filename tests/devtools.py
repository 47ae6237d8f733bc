"""Headless Chromium driven through the DevTools protocol: set a viewport, open a page, evaluate
JavaScript and take screenshots, every wait bounded."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import websockets

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-port=0"]


class Page:
    """One tab: commands answered by id, events kept for whoever waits on them."""

    def __init__(self, socket: Any, timeout: float) -> None:
        self._socket, self._timeout, self._ids = socket, timeout, itertools.count(1)
        self._events: list[dict[str, Any]] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        await self._socket.send(json.dumps({"id": number, "method": method, "params": params}))
        async with asyncio.timeout(self._timeout):
            while True:
                message = json.loads(await self._socket.recv())
                if message.get("id") == number:
                    if "error" in message:
                        raise RuntimeError(f"{method}: {message['error']}")
                    return dict(message.get("result", {}))
                self._events.append(message)

    async def wait_for(self, event: str) -> None:
        async with asyncio.timeout(self._timeout):
            while not any(e.get("method") == event for e in self._events):
                self._events.append(json.loads(await self._socket.recv()))
        self._events.clear()

    async def open(self, url: str, width: int, height: int = 900) -> None:
        """`url` laid out in a viewport `width` CSS pixels wide, as a phone below 600."""
        await self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=1, mobile=width < 600)
        await self.send("Page.enable")
        self._events.clear()
        await self.send("Page.navigate", url=url)
        await self.wait_for("Page.loadEventFired")

    async def evaluate(self, expression: str) -> Any:
        answer = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"JavaScript failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def screenshot(self, path: Path) -> Path:
        """The whole page, not just the viewport."""
        size = (await self.send("Page.getLayoutMetrics"))["cssContentSize"]
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                               clip={"x": 0, "y": 0, "width": size["width"],
                                     "height": size["height"], "scale": 1})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def _port(profile: Path, browser: subprocess.Popen[bytes], timeout: float) -> int:
    """The debugging port Chromium chose, from DevToolsActivePort in its profile."""
    found = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found.exists() and (lines := found.read_text().splitlines()):
            return int(lines[0])
        if browser.poll() is not None:
            raise RuntimeError(f"Chromium exited with {browser.returncode} before it listened")
        time.sleep(0.05)
    raise TimeoutError(f"Chromium wrote no {found.name} within {timeout} s")


@contextlib.asynccontextmanager
async def chromium(executable: str, profile: Path, timeout: float = 30.0) -> AsyncIterator[Page]:
    """A headless Chromium with a fresh profile and one page; ended (by its own pid) on exit."""
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "DevToolsActivePort").unlink(missing_ok=True)  # a reused profile's is stale
    browser = subprocess.Popen([executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = _port(profile, browser, timeout)
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=timeout).json()
        url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        async with websockets.connect(url, max_size=None, open_timeout=timeout,
                                      close_timeout=5) as socket:
            yield Page(socket, timeout)
    finally:
        browser.terminate()
        try:
            browser.wait(timeout=10)
        except subprocess.TimeoutExpired:
            browser.kill()
            browser.wait(timeout=10)

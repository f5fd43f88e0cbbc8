"""`billplane serve` in a subprocess, for the tests that need real server processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ADMIN_KEY = "bpk_servedadmin01_" + "a" * 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """A server started with `billplane serve ARGS`, its stderr in a file, an admin key."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None,
                 ready: bool = True) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        environ = {k: v for k, v in os.environ.items() if not k.startswith("BILLPLANE_")}
        environ.update({"BILLPLANE_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY, **(env or {})})
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli.main", "serve", "--port", str(self.port), *args],
            stdout=self._log, stderr=subprocess.STDOUT, env=environ,
            cwd=Path(__file__).resolve().parents[2])
        self.wait_up(ready)

    def wait_up(self, ready: bool, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log()
            try:
                r = httpx.get(self.base + "/readyz", timeout=2)
                if r.status_code == 200 or not ready:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("the server did not become ready:\n" + self.log())

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.base + path, timeout=30, **kwargs)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> str:
        """Stop the server (SIGTERM, then SIGKILL) and return everything it logged."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.log_path.read_text(errors="replace")

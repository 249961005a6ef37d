"""The example agent on a real LangGraph server (``langgraph dev``), driven by ``langgraph_sdk``.

Two users talk to the server on two threads each: each is told only their own memories, and
every run carries a context report. Skipped (with the reason shown) only when langgraph-cli's
in-memory server is not installed: ``pip install "langgraph-cli[inmem]" langgraph-sdk``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER_DIR = ROOT / "examples" / "server"
STARTUP_TIMEOUT = 90.0

_MISSING = [
    m
    for m in ("langgraph_cli", "langgraph_api", "langgraph_sdk")
    if importlib.util.find_spec(m) is None
]
pytestmark = pytest.mark.skipif(
    bool(_MISSING),
    reason=f"{', '.join(_MISSING)} not installed: pip install 'langgraph-cli[inmem]' langgraph-sdk",
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    import httpx  # noqa: PLC0415 - a langgraph_sdk dependency

    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"langgraph dev exited with {proc.returncode}:\n{log.read_text(errors='replace')[-4000:]}"
            )
        try:
            if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(
        f"langgraph dev did not answer within {STARTUP_TIMEOUT}s:\n{log.read_text(errors='replace')[-4000:]}"
    )


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("server") / "server"
    shutil.copytree(
        SERVER_DIR, work, ignore=shutil.ignore_patterns(".langgraph_api", "__pycache__")
    )
    port = _free_port()
    log = work.parent / "langgraph-dev.log"
    env = {k: v for k, v in os.environ.items() if k != "CTXORCH_MODEL"}
    env.update(
        {
            "LANGGRAPH_CLI_NO_ANALYTICS": "1",
            "LANGSMITH_TRACING": "false",
            "LANGCHAIN_TRACING_V2": "false",
        }
    )
    cli = Path(sys.executable).with_name("langgraph")
    cmd = [
        str(cli),
        "dev",
        "--no-reload",
        "--no-browser",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, url, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


async def _conversation(url: str, user: str, colour: str) -> dict[str, object]:
    from langgraph_sdk import get_client  # noqa: PLC0415

    async with get_client(url=url) as client:
        config = {"configurable": {"user_id": user}}
        first = await client.threads.create()
        saved = await client.runs.wait(
            first["thread_id"],
            "support_agent",
            input={
                "messages": [
                    {"role": "user", "content": f"Remember: my favourite colour is {colour}"}
                ]
            },
            config=config,
        )
        second = await client.threads.create()
        asked = await client.runs.wait(
            second["thread_id"],
            "support_agent",
            input={"messages": [{"role": "user", "content": "What is my favourite colour?"}]},
            config=config,
        )
        state = await client.threads.get_state(second["thread_id"])
    return {"saved": saved, "asked": asked, "state": state["values"]}


async def test_two_users_on_the_server_get_their_own_memories(server_url: str) -> None:
    alice, bob = await asyncio.gather(
        _conversation(server_url, "alice", "teal"), _conversation(server_url, "bob", "orange")
    )
    for result, own, other in ((alice, "teal", "orange"), (bob, "orange", "teal")):
        saved = result["saved"]
        assert isinstance(saved, dict)
        assert saved["messages"][-1]["content"].startswith("Saved")
        asked = result["asked"]
        assert isinstance(asked, dict)
        answer = asked["messages"][-1]["content"]
        assert own in answer
        assert other not in answer
        report = asked["context_report"]
        assert report["used"] <= report["budget"]
        memory_decisions = [d for d in report["decisions"] if d["layer"] == "memory"]
        assert [d["action"] for d in memory_decisions] == ["included"]
        state = result["state"]
        assert isinstance(state, dict)
        assert state["context_report"] == report
        assert own in "\n".join(
            m["content"] for m in state["context_messages"] if isinstance(m["content"], str)
        )

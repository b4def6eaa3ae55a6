"""`pao requests …` against a real `pao serve` (rehearsal on): submit, preview, list, show, logs,
watch in plain mode and through a pseudo-terminal, and the operator decisions."""

from __future__ import annotations

import os
import pty
import queue
import re
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.integration.serve_process import ROOT, Served, approve_as_approvers, serve

DB_REQUEST = ROOT / "examples" / "requests" / "team-payments" / "orders-db.yaml"
ACCESS_REQUEST = ROOT / "examples" / "requests" / "access" / "jdoe-postgres-prod-readwrite.yaml"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def pao(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PAO_API_URL": served.url}
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "requests", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def watch_in_a_terminal(served: Served, request_id: str) -> tuple[int, str]:
    """`pao requests watch` with its output on a pseudo-terminal, as a person sees it."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "PAO_API_URL": served.url, "TERM": "xterm"}
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "requests", "watch", request_id],
        env=env,
        stdout=terminal,
        stderr=terminal,
        stdin=subprocess.DEVNULL,
    )
    os.close(terminal)
    chunks = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.5)
        if ready:
            try:
                data = os.read(controller, 4096)
            except OSError:  # the terminal closed: the process exited
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    code = process.wait(timeout=30)
    os.close(controller)
    return code, b"".join(chunks).decode(errors="replace")


def watching_submit(served: Served, path: Path) -> subprocess.Popen[str]:
    """`pao requests submit FILE --watch`, its output on a pipe (plain mode), still running."""
    env = {**os.environ, "PAO_API_URL": served.url}
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "requests", "submit", str(path), "--watch"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def read_until(process: subprocess.Popen[str], text: str) -> str:
    """What ``process`` printed up to the line holding ``text``, which must come within two
    minutes (a reader thread: a watch that blocks silently fails here instead of hanging)."""
    assert process.stdout is not None
    stream = process.stdout
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        for line in stream:
            lines.put(line)
            if text in line:
                return
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
        except queue.Empty:
            break
        if not line:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    process.kill()
    raise AssertionError(f"{text!r} never printed: {''.join(seen)}")


def test_submit_watch_and_read_a_request(database_url: str, tmp_path: Path) -> None:
    with serve(database_url, tmp_path) as served:
        preview = pao(served, "preview", str(DB_REQUEST))
        assert preview.returncode == 0, preview.stderr + preview.stdout
        assert "valid:" in preview.stdout
        assert "provision (terraform)" in preview.stdout  # the dry run: what would be sent

        submitted = pao(served, "submit", str(DB_REQUEST))
        assert submitted.returncode == 0, submitted.stderr
        request_id = UUID.search(submitted.stdout).group(0)  # type: ignore[union-attr]

        plain = pao(served, "watch", request_id, "--interval", "0.2")
        assert plain.returncode == 0, plain.stdout + plain.stderr
        assert "\x1b[" not in plain.stdout  # no terminal: one line per change, no redrawing
        lines = plain.stdout.splitlines()
        assert f"{request_id} database-postgresql-standard: completed" in lines
        assert any(line.startswith("✔ provision") for line in lines), lines
        assert any(line.startswith("✔ register") for line in lines), lines

        second = watching_submit(served, ACCESS_REQUEST)
        guidance = read_until(second, "still watching")
        second_id = UUID.search(guidance).group(0)  # type: ignore[union-attr]
        assert "awaiting_approval" in guidance  # the item's approval gate (issue 21)
        # who must approve and how, said once while the watch goes on
        assert re.search(
            r"awaiting approval: stage '\S+' needs 1 more approval \(0 of 1\)", guidance
        )
        assert "from team security" in guidance
        assert "then: stage 'system-owner' (" in guidance  # the later stage, and who decides it
        assert "not the requester" in guidance
        assert f"pao requests approve {second_id}" in guidance
        assert f"{served.url}/portal/approvals" in guidance
        assert second.poll() is None  # still watching
        own = pao(served, "approve", second_id)  # the local admin requested it
        assert own.returncode == 1
        assert "HTTP 403" in own.stderr
        assert "separation of duties" in own.stderr
        assert "nothing awaits your approval" in pao(served, "approvals").stdout
        assert "approval: pending" in pao(served, "show", second_id).stdout
        assert approve_as_approvers(database_url, second_id) == "approved"
        code, screen = watch_in_a_terminal(served, second_id)
        assert code == 0, screen
        assert "\x1b[" in screen  # redrawn in place
        last_frame = screen.rsplit("\x1b[", 1)[-1]  # what stays on the screen
        assert f"{second_id} access-grant-production: completed" in last_frame, screen
        assert second.stdout is not None
        rest = second.stdout.read()  # the same buffered stream read_until read from
        second.wait(timeout=60)
        assert second.returncode == 0, guidance + rest
        assert f"{second_id} access-grant-production: completed" in rest
        assert (guidance + rest).count("awaiting approval: stage 'security'") == 1  # said once

        listed = pao(served, "list")
        assert listed.returncode == 0
        assert request_id in listed.stdout
        assert second_id in listed.stdout
        shown = pao(served, "show", request_id)
        assert "status: completed" in shown.stdout
        logs = pao(served, "logs", request_id)
        assert "[provision]" in logs.stdout


def test_a_failed_request_ends_the_watch_with_1_and_is_aborted(
    database_url: str, tmp_path: Path
) -> None:
    with serve(database_url, tmp_path, {"PAO_REHEARSAL_AUTO": "false"}) as served:
        submitted = pao(served, "submit", str(ACCESS_REQUEST))
        request_id = UUID.search(submitted.stdout).group(0)  # type: ignore[union-attr]
        assert approve_as_approvers(database_url, request_id) == "approved"
        deadline = time.monotonic() + 60
        tickets: list[dict[str, str]] = []
        while not tickets and time.monotonic() < deadline:
            tickets = httpx.get(f"{served.url}/rehearsal/control", timeout=10).json()["jira"]
            time.sleep(0.3)
        httpx.post(f"{served.url}/rehearsal/control/jira/{tickets[0]['ref']}/reject", timeout=10)
        watched = pao(served, "watch", request_id, "--interval", "0.2")
        assert watched.returncode == 1, watched.stdout + watched.stderr
        reason = watched.stdout.splitlines()[-1]
        assert reason.startswith("failed: "), watched.stdout
        assert "{" not in reason, reason  # a sentence, not a dict
        assert "'code'" not in reason, reason
        assert "action 'approval'" in reason or "(code " in reason, reason
        shown = pao(served, "show", request_id).stdout
        assert f"why it stopped: {reason.removeprefix('failed: ')}" in shown

        aborted = pao(served, "abort", request_id, "--reason", "rejected by security")
        assert aborted.returncode == 0, aborted.stderr
        assert "aborted" in pao(served, "show", request_id).stdout
        refused = pao(served, "retry", request_id)
        assert refused.returncode == 1
        assert "HTTP 409" in refused.stderr


def pao_at(api_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`pao requests …` with PAO_API_URL set to ``api_url`` as a person pasted it."""
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "requests", *args],
        env={**os.environ, "PAO_API_URL": api_url},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_printed_url_short_ids_and_an_empty_list(database_url: str, tmp_path: Path) -> None:
    with serve(database_url, tmp_path) as served:
        printed = f"{served.url}/api/v1"  # what `pao serve` prints
        assert f"PAO serve: {printed}" in served.output()
        empty = pao_at(printed, "list")
        assert empty.returncode == 0, empty.stderr
        assert empty.stdout.strip() == "no requests you may see"
        filtered = pao_at(printed, "list", "--status", "failed")
        assert filtered.stdout.strip() == "no requests you may see with status failed"

        wrong = pao_at(printed, "list", "--api-url", f"{served.url}/pao")  # after the subcommand
        assert wrong.returncode == 1
        assert f"GET {served.url}/pao/api/v1/requests" in wrong.stderr
        assert "must be PAO's base URL" in wrong.stderr

        submitted = pao_at(printed, "submit", str(ACCESS_REQUEST))
        request_id = UUID.search(submitted.stdout).group(0)  # type: ignore[union-attr]
        shown = pao_at(printed, "show", request_id[:8])
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.startswith(request_id)
        own = pao_at(printed, "approve", request_id[:6])  # resolved, then refused by the API
        assert own.returncode == 1
        assert "separation of duties" in own.stderr
        short = pao_at(printed, "approve", request_id[:3])
        assert short.returncode == 2
        assert "at least 4 characters" in short.stderr
        unknown = pao_at(printed, "show", "ffffffff" if request_id[0] != "f" else "00000000")
        assert unknown.returncode == 1
        assert "no request you may see has an id starting with" in unknown.stderr

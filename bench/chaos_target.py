"""A REST target that misbehaves like real ones, for the fault run (``bench/fault_run.py``).

``POST /api/v2/resources`` creates a resource, idempotently by ``Idempotency-Key``; each call
draws, independently: a 500 before any side effect (a known failure), a 429 with
``Retry-After: 1`` (rate limited), a hang after the side effect (the caller times out not
knowing the outcome), or success. ``GET /report`` says what was created, so the run can count
side effects done twice (the same ``name`` created under two keys).

    uvicorn --factory bench.chaos_target:app   (CHAOS_SEED, CHAOS_HANG_SECONDS)
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections import Counter
from typing import Any

from rehearsal.sim.http import Receive, Scope, Send, receive_request

FAIL_500 = 0.12
RATE_LIMITED = 0.10
HANG = 0.03


class ChaosTarget:
    def __init__(self, seed: int, hang_seconds: float) -> None:
        self.rng = random.Random(seed)  # faults, not crypto
        self.hang_seconds = hang_seconds
        self.by_key: dict[str, dict[str, Any]] = {}
        self.created: Counter[str] = Counter()  # name -> resources created under distinct keys
        self.answers: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = await receive_request(scope, receive, send)
        if request is None:
            return
        if request.path == "/report":
            duplicated = {name: n for name, n in self.created.items() if n > 1}
            report = {
                "created": sum(self.created.values()),
                "duplicated": duplicated,
                "answers": self.answers,
            }
            await respond(send, 200, report, {})
            return
        key = request.headers.get("idempotency-key", "")
        draw = self.rng.random()
        if draw < FAIL_500:
            self.answers["500"] += 1
            await respond(send, 500, {"error": "internal error"}, {})
            return
        if draw < FAIL_500 + RATE_LIMITED:
            self.answers["429"] += 1
            await respond(send, 429, {"error": "slow down"}, {"Retry-After": "1"})
            return
        data = request.json() or {}
        resource = self.by_key.get(key)
        if resource is None:
            resource = {"id": f"res-{len(self.by_key) + 1}", "name": data.get("name")}
            self.by_key[key] = resource
            self.created[str(data.get("name"))] += 1
        if draw < FAIL_500 + RATE_LIMITED + HANG:
            self.answers["hang"] += 1
            await asyncio.sleep(self.hang_seconds)
        self.answers["201"] += 1
        await respond(send, 201, resource, {})


async def respond(send: Send, status: int, payload: Any, headers: dict[str, str]) -> None:
    raw = json.dumps(payload).encode()
    pairs = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    pairs += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": pairs})
    await send({"type": "http.response.body", "body": raw})


def app() -> ChaosTarget:
    return ChaosTarget(
        int(os.environ.get("CHAOS_SEED", "7")), float(os.environ.get("CHAOS_HANG_SECONDS", "20"))
    )

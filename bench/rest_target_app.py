"""uvicorn factory for the fake REST target, so benchmarks can run it in its own process."""

from __future__ import annotations

from rehearsal.sim.rest_target import RestTarget


def app() -> RestTarget:
    return RestTarget()

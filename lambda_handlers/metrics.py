"""The engine's request outcomes as CloudWatch metrics, in the Embedded Metric Format.

On Lambda nothing scrapes ``/metrics``; instead each finished request is one JSON line on
stdout that CloudWatch Logs turns into metrics (``PAO/RequestsCompleted``,
``PAO/RequestsFailed``), on which the template's failure-rate alarm is set (the spec's alert:
more than 5 % of requests failing over 5 minutes). Only counts and names of bounded cardinality
are written: no request content, no error text.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Final, TextIO

from orchestrator.engine.observer import UNKNOWN, NullObserver, on_commit

NAMESPACE: Final = "PAO"
FINISHED_METRICS: Final = {"completed": "RequestsCompleted", "failed": "RequestsFailed"}


class EmfObserver(NullObserver):
    """An ``EngineObserver`` writing Embedded Metric Format lines to ``stream`` (stdout): only
    finished requests (the failure-rate alarm); every other event is ignored, as the null
    observer does."""

    def __init__(self, stream: TextIO | None = None, namespace: str = NAMESPACE) -> None:
        self.stream = stream
        self.namespace = namespace

    def request_finished(
        self,
        catalog_item: str,
        status: str,
        duration_seconds: float,
        action_types: Sequence[str],
        *,
        user_team: str = UNKNOWN,
    ) -> None:
        name = FINISHED_METRICS.get(status)
        if name is not None:
            on_commit(lambda: self._emit(name, duration_seconds))

    def _emit(self, name: str, duration_seconds: float) -> None:
        line = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [[]],
                        "Metrics": [
                            {"Name": name, "Unit": "Count"},
                            {"Name": "RequestDuration", "Unit": "Seconds"},
                        ],
                    }
                ],
            },
            name: 1,
            "RequestDuration": round(duration_seconds, 3),
        }
        stream = self.stream or sys.stdout
        stream.write(json.dumps(line) + "\n")
        stream.flush()

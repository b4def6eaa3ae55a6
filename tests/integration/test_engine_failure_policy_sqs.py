"""The failure-policy scenarios that touch the queue, on the SQS backend (moto over loopback):
per-action crash limits (SQS counts receives per message, the engine per action), circuit
delays and declared backoff reschedule the job the same way as on PostgreSQL."""

from __future__ import annotations

import pytest

from orchestrator.settings import Settings
from tests.integration import test_engine_failure_policy as policy
from tests.integration.sqs_harness import SqsQueues, sqs_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def api_settings(sqs_queues: SqsQueues) -> Settings:
    """Every test of this module runs on the SQS backend with fresh queues."""
    return sqs_settings(sqs_queues)


test_crash_limit_counts_per_action = policy.test_crash_limit_counts_per_action
test_crashing_on_one_action_up_to_the_limit_fails_it_clearly = (
    policy.test_crashing_on_one_action_up_to_the_limit_fails_it_clearly
)
test_open_circuit_delays_to_the_probe_time_without_spending_attempts = (
    policy.test_open_circuit_delays_to_the_probe_time_without_spending_attempts
)
test_declared_backoff_delays_are_scheduled = policy.test_declared_backoff_delays_are_scheduled

"""Fulfillment engine: queue backends, worker, chain runner, backoff, circuit breaker, poller."""

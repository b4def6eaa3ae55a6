"""The ``api`` function: API Gateway's HTTP API (payload v2.0) → Mangum → PAO's Litestar app.

The caller is the IAM principal API Gateway verified (``requestContext.authorizer.iam``, which
Mangum hands to the app as ``scope["aws.event"]``): the deployment sets ``PAO_AUTH_MODE=aws-iam``
and ``PAO_IAM_SOURCE=gateway``, and PAO refuses to serve on Lambda without authentication.
The app is built once per container on the container's services; its lifespan is off (the
services are opened by the runtime, never the embedded defaults), and each invocation ends by
relaying the jobs it enqueued to SQS.
"""

from __future__ import annotations

import time

_IMPORTS_STARTED = time.perf_counter()

import functools  # noqa: E402
import logging  # noqa: E402
from typing import Any  # noqa: E402

from mangum import Mangum  # noqa: E402

from api.app import create_app  # noqa: E402
from lambda_handlers.runtime import LambdaRuntime, container  # noqa: E402
from orchestrator.settings import SettingsError  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - _IMPORTS_STARTED

log = logging.getLogger(__name__)


class ApiFunction:
    """The API of one container: the app through Mangum, invoked once per HTTP call."""

    def __init__(self, runtime: LambdaRuntime) -> None:
        settings = runtime.settings
        if settings.auth.mode == "none":
            raise SettingsError(
                "the api function needs authentication: PAO_AUTH_MODE=aws-iam with "
                "PAO_IAM_SOURCE=gateway (or token)"
            )
        self.runtime = runtime
        app: Any = create_app(settings, services=runtime.services, executors=runtime.registry)
        self.adapter = Mangum(app, lifespan="off")

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        runtime = self.runtime
        runtime.run(runtime.thaw())  # and the container's loop is the current one: Mangum's
        response: dict[str, Any] = self.adapter(event, context)
        runtime.run(runtime.flush())
        return response


@functools.cache
def function() -> ApiFunction:
    started = time.perf_counter()
    built = ApiFunction(container())
    log.info(
        "api cold start: imports %.2fs, services and app %.2fs",
        IMPORT_SECONDS,
        time.perf_counter() - started,
    )
    return built


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda's entry point (``lambda_handlers.api.handler``)."""
    return function()(event, context)

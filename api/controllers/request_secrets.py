"""``PUT /api/v1/requests/{id}/secrets``: the secure path for secret fields.

A request from GitHub (issue form, request file) never carries a secret: issues and pull
requests are readable by many. When its item needs one for the values given, the request waits
in ``awaiting_secret``; its requester, authenticated, supplies the secret here. The values are
checked against the item's rules (errors name the field, never the value), stored apart from the
request (masked wherever it is shown) and the request is queued.
"""

from __future__ import annotations

import uuid

import msgspec
from litestar import Controller, put
from litestar.exceptions import PermissionDeniedException

from api.auth import require_request
from api.models import RequestView, to_model
from api.problems import problem_responses
from orchestrator.identity.principal import Principal
from orchestrator.services import Services


class SuppliedSecrets(msgspec.Struct, forbid_unknown_fields=True):
    """Secret field id -> value, for the secret fields the request waits for."""

    fields: dict[str, str]


class RequestSecretsController(Controller):
    path = "/api/v1/requests"
    tags = ("requests",)

    @put(
        "/{request_id:uuid}/secrets",
        summary="Supply the secrets a request waits for",
        description=(
            "Only for a request in `awaiting_secret` (a request from GitHub whose item needs a "
            "secret field), only by its requester. Answers the request, now `queued`; 409 in "
            "any other state, 422 when a value breaks the field's rules or the request does "
            "not wait for that field."
        ),
        status_code=200,
        responses=problem_responses(403, 404, 409, 413, 422),
    )
    async def supply(
        self,
        services: Services,
        principal: Principal,
        correlation_id: str,
        request_id: uuid.UUID,
        data: SuppliedSecrets,
    ) -> RequestView:
        await require_request(services, principal, request_id)
        row = await services.requests.get_row(request_id)
        if str(row["requester_email"]).lower() != principal.email.lower():
            raise PermissionDeniedException("only the requester may supply the request's secrets")
        view = await services.requests.supply_secrets(
            request_id, principal, dict(data.fields), correlation_id
        )
        return to_model(view, RequestView)

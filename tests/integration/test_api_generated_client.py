"""A Python client generated from the served OpenAPI document (openapi-python-client) has typed
models for the main resources, and submits, reads and aborts a request against the app.

The generator runs offline on the document written to a temporary directory (a few seconds);
the generated package is imported from there.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import anyio
import attrs
import httpx
import pytest

from tests.samples import FIELDS, ITEM

pytestmark = pytest.mark.anyio
PACKAGE = "pao_generated_client"
# the main resources: every documented property is a typed attribute of the generated model
MAIN_MODELS = [
    "RequestView",
    "RequestSummary",
    "RequestPage",
    "RequestStatus",
    "LogPage",
    "LogEntry",
    "EscalationView",
    "ValidationResult",
    "CatalogPage",
    "CatalogItemSummary",
    "CatalogItemDetail",
    "FormDocument",
    "AuditPage",
    "AuditEntry",
    "Readiness",
    "VersionInfo",
    "CatalogItemValidation",
    "VariablesPreview",
    "ProblemDetails",
]
# Properties whose value is any JSON by design, documented as such.
FREE_FORM = {
    ("VariablesPreview", "rendered"): "the item's templates rendered: the templates' own shape",
}


def generate(spec: Path, output: Path) -> None:
    generator = shutil.which("openapi-python-client")
    assert generator is not None, "openapi-python-client is in the test extra"
    done = subprocess.run(
        [
            generator,
            "generate",
            "--path",
            str(spec),
            "--meta",
            "none",
            "--output-path",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    # the generator warns about each schema it cannot turn into a type, and skips it
    assert "warning" not in report.lower(), report


@pytest.fixture
async def generated(client: httpx.AsyncClient, tmp_path: Path) -> AsyncIterator[ModuleType]:
    spec = tmp_path / "openapi.json"
    spec.write_text((await client.get("/api/v1/openapi.json")).text)
    await anyio.to_thread.run_sync(generate, spec, tmp_path / PACKAGE)
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


async def test_the_main_resources_have_typed_models(
    client: httpx.AsyncClient, generated: ModuleType
) -> None:
    document = (await client.get("/api/v1/openapi.json")).json()
    models = importlib.import_module(f"{PACKAGE}.models")
    for name in MAIN_MODELS:
        model = getattr(models, name)
        attributes = {a.name: a for a in attrs.fields(model)}
        documented = document["components"]["schemas"][name]["properties"]
        assert len(attributes) - 1 == len(documented), name  # + additional_properties
        for attribute in attributes.values():
            if attribute.name == "additional_properties" or (name, attribute.name) in FREE_FORM:
                continue
            parts = set(str(attribute.type).replace("typing.", "").split(" | "))
            assert parts - {"None", "Unset"} != {"Any"}, (name, attribute.name, parts)
    # the request body of a submit is typed too
    submit = importlib.import_module(f"{PACKAGE}.api.requests.api_v1_requests_submit")
    assert submit.asyncio.__annotations__["body"] is models.NewRequest


async def test_the_generated_client_submits_reads_and_aborts(
    client: httpx.AsyncClient, generated: ModuleType
) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    operations = f"{PACKAGE}.api.requests.api_v1_requests"
    submit = importlib.import_module(f"{operations}_submit")
    detail = importlib.import_module(f"{operations}_request_id_detail")
    abort = importlib.import_module(f"{operations}_request_id_abort_abort")
    api = generated.Client(base_url="http://testserver").set_async_httpx_client(client)

    body = models.NewRequest.from_dict({"catalogItem": ITEM, "fields": FIELDS})
    created = await submit.asyncio(client=api, body=body)
    assert isinstance(created, models.RequestView), created
    assert created.catalog_item == ITEM
    assert isinstance(created.requester, models.Requester)

    read = await detail.asyncio(uuid.UUID(created.id), client=api)
    assert isinstance(read, models.RequestView)
    assert read.id == created.id
    assert read.fields.additional_properties["instanceName"] == FIELDS["instanceName"]

    aborted = await abort.asyncio(
        uuid.UUID(created.id), client=api, body=models.Decision(reason="not needed after all")
    )
    assert isinstance(aborted, models.RequestView), aborted
    assert aborted.status is models.RequestViewStatus.ABORTED

    missing = await detail.asyncio(uuid.uuid4(), client=api)
    assert isinstance(missing, models.ProblemDetails)
    assert missing.status == 404

"""Auth mode `aws-iam`: identities signed with botocore, verified by moto's STS over loopback.

Moto's server runs with its IAM authentication on (``/moto-api/reset-auth``) while a test
checks tokens, so it verifies SigV4 signatures against the access keys it issued, as STS does;
the identities (an IAM user, a role with a path and its assumed-role sessions) are made with
boto3 before that. What moto does not check (the age of a signature, replays, which host and
action were signed) PAO checks itself, and these tests show it does. A second loopback fake
plays STS where moto cannot: failures (500, throttling), real STS's JSON answer, and as a decoy
host that must never be called.
"""

from __future__ import annotations

import base64
import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import botocore.auth  # type: ignore[import-untyped]
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]

from api.app import create_app
from orchestrator.identity.aws_iam import (
    FORM_CONTENT_TYPE,
    SERVER_ID_HEADER,
    STS_BODY,
    TOKEN_PREFIX,
    caller_token,
)
from orchestrator.services import open_services
from orchestrator.settings import Settings
from tests.fakes.http_fake import HttpFake, Reply
from tests.integration.api_fixtures import app_client
from tests.samples import FIELDS, ITEM

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
SERVER_ID = "pao-test"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


@dataclass(frozen=True, slots=True)
class World:
    """Identities made in moto for one test (unique names: moto's state lives for the session)."""

    sts_url: str
    suffix: str
    alice: Credentials  # IAM user, mapped exactly
    deployer: Credentials  # session "ops" of role /team/deployer-*, mapped by role ARN
    carol: Credentials  # session "carol" of the same role, mapped by its own session ARN
    ci: Credentials  # IAM user svc-*-build, mapped by a prefix
    deploy_bot: Credentials  # IAM user svc-*-deploy-bot, mapped by a longer prefix
    mallory: Credentials  # IAM user, not mapped

    def principals(self) -> dict[str, dict[str, Any]]:
        s = self.suffix
        return {
            f"arn:aws:iam::{ACCOUNT}:user/alice-{s}": {
                "email": "alice@example.com",
                "name": "Alice",
                "teams": ["payments"],
            },
            # Configured with the role's path; the assumed-role ARN has none.
            f"arn:aws:iam::{ACCOUNT}:role/team/deployer-{s}": {
                "email": "ops@example.com",
                "teams": ["platform-admins"],
            },
            f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer-{s}/carol": {
                "email": "carol@example.com",
                "teams": ["payments"],
            },
            f"arn:aws:iam::{ACCOUNT}:user/svc-{s}-*": {"email": "ci@example.com", "teams": ["ci"]},
            f"arn:aws:iam::{ACCOUNT}:user/svc-{s}-deploy-*": {
                "email": "deploy-bot@example.com",
                "teams": ["deploy"],
                "roles": ["operator"],
            },
        }


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="setup",
        aws_secret_access_key="setup-secret",  # moto, signature checks still off
    )


def _user(iam: Any, name: str) -> Credentials:
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def _session(sts: Any, role: str, name: str) -> Credentials:
    issued = sts.assume_role(RoleArn=role, RoleSessionName=name)["Credentials"]
    return Credentials(issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"])


@pytest.fixture
def world(moto_server: str) -> Iterator[World]:
    """Identities in moto, then moto's signature checking on for the test (off again after)."""
    s = uuid.uuid4().hex[:8]
    iam, sts = _client("iam", moto_server), _client("sts", moto_server)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(
        RoleName=f"deployer-{s}", Path="/team/", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    built = World(
        sts_url=moto_server,
        suffix=s,
        alice=_user(iam, f"alice-{s}"),
        deployer=_session(sts, role, "ops"),
        carol=_session(sts, role, "carol"),
        ci=_user(iam, f"svc-{s}-build"),
        deploy_bot=_user(iam, f"svc-{s}-deploy-bot"),
        mallory=_user(iam, f"mallory-{s}"),
    )
    previous = httpx.post(f"{moto_server}/moto-api/reset-auth", content=b"0").json()
    try:
        yield built
    finally:
        restore = str(previous["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]).encode()
        httpx.post(f"{moto_server}/moto-api/reset-auth", content=restore)


def iam_settings(
    sts_url: str, principals: dict[str, Any], source: str = "sts", **extra: str
) -> Settings:
    return Settings.from_env(
        {
            "CATALOG_LOCAL_PATH": str(ROOT / "examples" / "catalog"),
            "PAO_AUTH_MODE": "aws-iam",
            "PAO_IAM_SOURCE": source,
            "PAO_IAM_SERVER_ID": SERVER_ID,
            "PAO_IAM_PRINCIPALS": json.dumps(principals),
            "PAO_STS_ENDPOINT_URL": sts_url,
            "PAO_ADMIN_TEAMS": "platform-admins",
            **extra,
        }
    )


@asynccontextmanager
async def iam_api(database_url: str, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    services = await open_services(settings, database_url=database_url)
    try:
        async with app_client(services) as client:
            yield client
    finally:
        await services.close()


def token(credentials: Credentials, sts_url: str, server_id: str = SERVER_ID) -> str:
    return caller_token(credentials, server_id=server_id, endpoint_url=sts_url, region=REGION)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def payload(value: str) -> dict[str, str]:
    encoded = value[len(TOKEN_PREFIX) :]
    data: dict[str, str] = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    return data


def repack(data: dict[str, str]) -> str:
    raw = json.dumps(data).encode()
    return TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def signed_by_hand(credentials: Credentials, url: str, body: str, headers: dict[str, str]) -> str:
    """A token from a request the test signs itself with botocore (any URL, body, headers)."""
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(credentials, "sts", REGION).add_auth(request)
    carried = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "x-pao-nonce")
    return repack({k.lower(): request.headers[k] for k in carried if k in request.headers})


async def whoami(client: httpx.AsyncClient, value: str) -> tuple[int, Any]:
    """Submit a request as the token's caller: PAO records who it thinks that is."""
    response = await client.post(
        "/api/v1/requests", json={"catalog_item": ITEM, "fields": FIELDS}, headers=bearer(value)
    )
    return response.status_code, response.json()


def refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert reason in response.json()["detail"], response.json()


@pytest.mark.anyio
async def test_good_signatures_map_users_roles_sessions_and_prefixes(
    database_url: str, world: World
) -> None:
    url = world.sts_url
    async with iam_api(database_url, iam_settings(url, world.principals())) as client:
        status, created = await whoami(client, token(world.alice, url))
        assert status == 201, created
        assert created["requester"]["email"] == "alice@example.com"
        assert created["requester"]["teams"] == ["payments"]
        # The role (configured with its IAM path) for its session "ops": an admin team.
        assert (
            await client.get("/api/v1/audit", headers=bearer(token(world.alice, url)))
        ).status_code == 403
        admin = await client.get("/api/v1/audit", headers=bearer(token(world.deployer, url)))
        assert admin.status_code == 200, admin.text
        # Session "carol" of the same role has a key of its own: it wins over the role's.
        status, created = await whoami(client, token(world.carol, url))
        assert (status, created["requester"]["email"]) == (201, "carol@example.com")
        assert (
            await client.get("/api/v1/audit", headers=bearer(token(world.carol, url)))
        ).status_code == 403
        # Prefixes: the longest one that matches wins.
        status, created = await whoami(client, token(world.ci, url))
        assert (status, created["requester"]["email"]) == (201, "ci@example.com")
        status, created = await whoami(client, token(world.deploy_bot, url))
        assert (status, created["requester"]["email"]) == (201, "deploy-bot@example.com")
        assert created["requester"]["teams"] == ["deploy"]


@pytest.mark.anyio
async def test_unmapped_identity_is_401(database_url: str, world: World) -> None:
    """A genuine AWS identity that PAO_IAM_PRINCIPALS does not name is no PAO user: 401."""
    url = world.sts_url
    async with iam_api(database_url, iam_settings(url, world.principals())) as client:
        response = await client.get("/api/v1/catalog", headers=bearer(token(world.mallory, url)))
        refused(response, "not mapped to a PAO user")
        ok = await client.get("/api/v1/catalog", headers=bearer(token(world.alice, url)))
        assert ok.status_code == 200


@pytest.mark.anyio
async def test_forged_signatures_are_refused_and_no_other_host_is_called(
    database_url: str, world: World
) -> None:
    url = world.sts_url
    decoy = HttpFake("decoy STS")
    with decoy.serve() as decoy_url:
        async with iam_api(database_url, iam_settings(url, world.principals())) as client:

            async def call(value: str) -> httpx.Response:
                return await client.get("/api/v1/catalog", headers=bearer(value))

            good = payload(token(world.alice, url))
            # The signature altered: STS (moto) finds it does not match.
            altered = {**good, "authorization": good["authorization"][:-4] + "0000"}
            refused(await call(repack(altered)), "SignatureDoesNotMatch")
            # The right key id with a wrong secret.
            wrong = Credentials(world.alice.access_key, "not-the-secret")
            refused(await call(token(wrong, url)), "SignatureDoesNotMatch")
            # The date moved after signing (still fresh, so only STS can tell).
            later = datetime.strptime(good["x-amz-date"], "%Y%m%dT%H%M%SZ") + timedelta(seconds=1)
            moved = {
                **payload(token(world.alice, url)),
                "x-amz-date": later.strftime("%Y%m%dT%H%M%SZ"),
            }
            refused(await call(repack(moved)), "SignatureDoesNotMatch")
            # Signed for another host: PAO still calls only its STS, where the host mismatches.
            refused(await call(token(world.alice, decoy_url)), "SignatureDoesNotMatch")
            # A header naming another host, or anything but the signature headers: refused here.
            refused(await call(repack({**good, "host": decoy_url[7:]})), "other than the signature")
            # Old-style presigned URL of the decoy host.
            presigned = _client("sts", decoy_url).generate_presigned_url("get_caller_identity")
            v1 = "pao-sts-v1." + base64.urlsafe_b64encode(presigned.encode()).decode()
            refused(await call(v1), "not a pao-sts-v2 token")
            # Another action signed: PAO sends GetCallerIdentity, so the signature fails.
            other_action = signed_by_hand(
                world.alice,
                url,
                "Action=GetSessionToken&Version=2011-06-15",
                {"Content-Type": FORM_CONTENT_TYPE, SERVER_ID_HEADER: SERVER_ID},
            )
            refused(await call(other_action), "SignatureDoesNotMatch")
            # Signed for another service's id, or without the server id at all.
            refused(await call(token(world.alice, url, "other-service")), "SignatureDoesNotMatch")
            unbound = signed_by_hand(
                world.alice, url, STS_BODY, {"Content-Type": FORM_CONTENT_TYPE}
            )
            refused(await call(unbound), f"must cover host, x-amz-date and {SERVER_ID_HEADER}")
            # A signature covering a header PAO does not send (so its meaning is unknown).
            extra = signed_by_hand(
                world.alice,
                url,
                STS_BODY,
                {
                    "Content-Type": FORM_CONTENT_TYPE,
                    SERVER_ID_HEADER: SERVER_ID,
                    "X-Amz-Target": "AWSSecurityTokenServiceV20110615.AssumeRole",
                },
            )
            refused(await call(extra), "no other header")
            # A session's key without its session token.
            session = payload(token(world.deployer, url))
            del session["x-amz-security-token"]
            refused(await call(repack(session)), "disagree")
            for garbage in ("pao-sts-v2.!!!", "pao-sts-v2." + "A" * 20_000, "pao_abc"):
                assert (await call(garbage)).status_code == 401
            assert (await client.get("/api/v1/catalog")).status_code == 401
            # Still fine with a good one, and the decoy never heard from PAO.
            assert (await call(token(world.alice, url))).status_code == 200
    assert decoy.requests == []


@pytest.mark.anyio
async def test_expired_and_future_signatures_are_refused(
    database_url: str, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = world.sts_url

    def signed_at(offset: timedelta) -> str:
        """Sign with botocore's clock moved by ``offset`` (its own clock function)."""
        when = datetime.now(UTC).replace(tzinfo=None) + offset
        with monkeypatch.context() as patch:
            patch.setattr(botocore.auth, "get_current_datetime", lambda *_, **__: when)
            return token(world.alice, url)

    async with iam_api(database_url, iam_settings(url, world.principals())) as client:
        for offset in (timedelta(minutes=-10), timedelta(hours=-2), timedelta(minutes=10)):
            response = await client.get("/api/v1/catalog", headers=bearer(signed_at(offset)))
            refused(response, "older than 300 s")
        # A signature of a minute ago is still fresh (and moto accepts it).
        response = await client.get(
            "/api/v1/catalog", headers=bearer(signed_at(timedelta(minutes=-1)))
        )
        assert response.status_code == 200, response.text


@pytest.mark.anyio
async def test_a_token_is_accepted_once(database_url: str, world: World) -> None:
    url = world.sts_url
    async with iam_api(database_url, iam_settings(url, world.principals())) as client:
        first, second = token(world.alice, url), token(world.alice, url)
        assert first != second  # signed in the same second, still distinct (the nonce)
        assert (await client.get("/api/v1/catalog", headers=bearer(first))).status_code == 200
        refused(await client.get("/api/v1/catalog", headers=bearer(first)), "already used")
        assert (await client.get("/api/v1/catalog", headers=bearer(second))).status_code == 200
        refused(await client.get("/api/v1/catalog", headers=bearer(second)), "already used")


@pytest.mark.anyio
async def test_a_token_used_on_one_instance_is_refused_by_another(
    database_url: str, world: World
) -> None:
    """Two API instances on one database (behind a balancer): the replay goes to the other."""
    url = world.sts_url
    settings = iam_settings(url, world.principals())
    async with iam_api(database_url, settings) as first, iam_api(database_url, settings) as second:
        used = token(world.alice, url)
        assert (await first.get("/api/v1/catalog", headers=bearer(used))).status_code == 200
        refused(await second.get("/api/v1/catalog", headers=bearer(used)), "already used")
        fresh = token(world.alice, url)
        assert (await second.get("/api/v1/catalog", headers=bearer(fresh))).status_code == 200
        refused(await first.get("/api/v1/catalog", headers=bearer(fresh)), "already used")


def _closed_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def _xml(body: str) -> Reply:
    return Reply(200, body.encode(), content_type="text/xml")


def _sts_error(status: int, code: str) -> Reply:
    body = (
        f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>details</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
    )
    return Reply(status, body.encode(), content_type="text/xml")


@pytest.mark.anyio
async def test_sts_failures_are_503_and_never_leak_the_token(database_url: str) -> None:
    creds = Credentials("AKIAEXAMPLEEXAMPLE01", "example-secret-key", None)
    arn = f"arn:aws:iam::{ACCOUNT}:user/alice"
    principals = {arn: {"email": "alice@example.com", "teams": ["payments"]}}
    secret_bits = ("example-secret-key",)

    def assert_503(response: httpx.Response, value: str) -> None:
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["Retry-After"] == "5"
        for leak in (*secret_bits, value, payload(value)["authorization"][-64:]):
            assert leak not in response.text

    down = f"http://127.0.0.1:{_closed_port()}"
    async with iam_api(database_url, iam_settings(down, principals)) as client:
        value = token(creds, down)
        assert_503(await client.get("/api/v1/catalog", headers=bearer(value)), value)

    fake = HttpFake("scripted STS")
    with fake.serve() as sts_url:
        json_answer = {
            "GetCallerIdentityResponse": {
                "GetCallerIdentityResult": {"Account": ACCOUNT, "Arn": arn, "UserId": "AIDA1"},
                "ResponseMetadata": {"RequestId": "r-1"},
            }
        }
        fake.script(
            "POST",
            "/",
            Reply(500, b"oops", content_type="text/plain"),
            _sts_error(400, "Throttling"),
            _xml("<ListAllMyBucketsResult><Owner><ID>1</ID></Owner></ListAllMyBucketsResult>"),
            _xml(f'<!DOCTYPE x [<!ENTITY a "{arn}">]><GetCallerIdentityResponse/>'),
            _sts_error(403, "ExpiredToken"),
            Reply(200, json_answer),  # real STS answers JSON when asked to
            _xml(
                f'<GetCallerIdentityResponse xmlns="{STS_NS}"><GetCallerIdentityResult>'
                f"<Arn>{arn}</Arn><UserId>AIDA1</UserId><Account>{ACCOUNT}</Account>"
                "</GetCallerIdentityResult></GetCallerIdentityResponse>"
            ),
        )
        async with iam_api(database_url, iam_settings(sts_url, principals)) as client:

            async def call() -> tuple[httpx.Response, str]:
                value = token(creds, sts_url)
                return await client.get("/api/v1/catalog", headers=bearer(value)), value

            for _ in range(4):  # 500, throttled, not STS, DOCTYPE
                assert_503(*await call())
            response, _ = await call()
            refused(response, "ExpiredToken")
            for _ in range(2):  # JSON, then XML
                response, _ = await call()
                assert response.status_code == 200, response.text
        sent = fake.seen("/", "POST")
    assert len(sent) == 7
    for request in sent:
        assert request.body == STS_BODY.encode()
        assert request.headers[SERVER_ID_HEADER] == SERVER_ID
        assert request.headers["content-type"] == FORM_CONTENT_TYPE
        assert request.headers["accept"] == "application/json"
        assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIA")
    assert len({r.headers["authorization"] for r in sent}) == 7


def rest_api_event(arn: str | None) -> dict[str, Any]:
    """API Gateway REST API (v1) proxy event with IAM authorisation, trimmed."""
    return {
        "resource": "/{proxy+}",
        "path": "/api/v1/catalog",
        "httpMethod": "GET",
        "requestContext": {
            "accountId": ACCOUNT,
            "stage": "prod",
            "identity": {
                "accessKey": "ASIAEXAMPLE",
                "accountId": ACCOUNT,
                "caller": "AROAEXAMPLE:ops",
                "userArn": arn,
                "sourceIp": "203.0.113.9",
            },
        },
    }


def http_api_event(arn: str) -> dict[str, Any]:
    """API Gateway HTTP API (v2) / function URL event with IAM authorisation, trimmed."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/api/v1/catalog",
        "requestContext": {
            "accountId": ACCOUNT,
            "authorizer": {
                "iam": {
                    "accessKey": "AKIAEXAMPLE",
                    "accountId": ACCOUNT,
                    "callerId": "AIDAEXAMPLE",
                    "userArn": arn,
                    "userId": "AIDAEXAMPLE",
                }
            },
            "http": {"method": "GET", "path": "/api/v1/catalog", "sourceIp": "203.0.113.9"},
        },
    }


@pytest.mark.anyio
async def test_gateway_identity_comes_from_the_request_context_only(database_url: str) -> None:
    alice = f"arn:aws:iam::{ACCOUNT}:user/alice"
    ops = f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/ops"
    principals = {
        alice: {"email": "alice@example.com", "teams": ["payments"]},
        f"arn:aws:iam::{ACCOUNT}:role/deployer": {"email": "ops@example.com", "teams": ["ops"]},
    }
    settings = iam_settings("http://127.0.0.1:9", principals, source="gateway")
    services = await open_services(settings, database_url=database_url)
    try:
        app: Any = create_app(settings, services=services)

        def lambda_client(event: dict[str, Any] | None) -> httpx.AsyncClient:
            """Calls the app as the Lambda adapter (Mangum) does: the event in the scope."""

            async def adapter(scope: Any, receive: Any, send: Any) -> None:
                if event is not None and scope["type"] == "http":
                    scope = {**scope, "aws.event": event, "aws.context": None}
                await app(scope, receive, send)

            transport = httpx.ASGITransport(app=adapter)
            return httpx.AsyncClient(transport=transport, base_url="http://testserver")

        for event, email in (
            (rest_api_event(alice), "alice@example.com"),
            (http_api_event(ops), "ops@example.com"),
        ):
            async with lambda_client(event) as client:
                response = await client.post(
                    "/api/v1/requests", json={"catalog_item": ITEM, "fields": FIELDS}
                )
                assert response.status_code == 201, response.text
                assert response.json()["requester"]["email"] == email
        for event in (
            rest_api_event(None),  # no IAM authoriser on the route
            rest_api_event(f"arn:aws:iam::{ACCOUNT}:user/mallory"),  # not mapped
            {"requestContext": {"identity": "alice"}},  # not the shape: 401, not 500
            {"requestContext": {"authorizer": {"iam": {"userArn": "alice@example.com"}}}},
        ):
            async with lambda_client(event) as client:
                assert (await client.get("/api/v1/catalog")).status_code == 401

        # Without the adapter's scope, nothing a client sends is an identity.
        forged_event = json.dumps(rest_api_event(alice))
        forged = {
            "x-apigateway-event": forged_event,
            "x-apigateway-context": "{}",
            "x-amzn-request-context": json.dumps(rest_api_event(alice)["requestContext"]),
            "x-amz-user-arn": alice,
            "x-amzn-oidc-identity": alice,
            "Authorization": "Bearer "
            + token(Credentials("AKIAEXAMPLEEXAMPLE01", "x"), "http://127.0.0.1:9"),
        }
        async with lambda_client(None) as client:
            response = await client.get("/api/v1/catalog", headers=forged)
            refused(response, "no API Gateway IAM identity")
        async with app_client(services) as client:
            assert (await client.get("/api/v1/catalog", headers=forged)).status_code == 401
            assert (await client.get("/api/v1/health")).status_code == 200
    finally:
        await services.close()

"""The generic REST target of the rehearsal: it answers each rest-api action the way the catalog
item says it expects to be answered.

It is *primed* from catalog items (``RestRoute.from_action``): the action's URL template becomes
a path pattern under ``/<VARIABLE>`` (the ``environment.VARIABLE`` the URL starts with), its
first ``expectedStatus`` the answer's status, its ``outputs`` expressions the keys of the answer
(``record_id: id`` gives ``{"id": "rh-…"}``), and an ``async.statusUrl`` a status document that
satisfies ``successWhen``. OAuth 2.0 client-credentials token endpoints (any path ending in
``/token``) issue tokens. Every answer says it comes from the rehearsal (``"rehearsal": true``
in its JSON object; ``rehearsal.systems`` adds ``X-PAO-Rehearsal: true`` to every simulator's).

It follows the catalog while it runs: given a ``catalog`` feed (``rehearsal.systems.
CatalogFeed``: the item set when the catalog changed since the last look, else None), it looks
before answering each call and learns the items added or edited since, and forgets removed ones.
A call that matches no item's action gets 404 with a body naming what it knows, so a URL no item
has shows up as such instead of as a mysterious success.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rehearsal.sim.http import HttpFake, Recorded, Reply

_TOKEN = re.compile(r"\{\{(.*?)\}\}", re.S)
_ENV = re.compile(r"^\s*environment\.([A-Za-z_][A-Za-z0-9_]*)\s*$")
_STEP = re.compile(r'"((?:[^"\\]|\\.)*)"|([A-Za-z_][A-Za-z0-9_]*)|\[\s*(-?\d+)\s*\]|\.')
_COMPARE = re.compile(r"^(?P<path>.+?)\s*(?P<op>==|!=)\s*(?P<literal>'(?:[^'\\]|\\.)*'|`[^`]*`)$")


def _path_steps(expression: str) -> list[str | int]:
    steps: list[str | int] = []
    for match in _STEP.finditer(expression.strip()):
        quoted, name, index = match.groups()
        if quoted is not None:
            steps.append(quoted)
        elif name is not None:
            steps.append(name)
        elif index is not None:
            steps.append(int(index))
    return steps


def _place(document: dict[str, Any], steps: list[str | int], value: Any) -> None:
    """Put ``value`` at ``steps`` (keys and list indexes), building what is missing."""
    node: Any = document
    for position, step in enumerate(steps):
        last = position == len(steps) - 1
        following: Any = value if last else ([] if isinstance(steps[position + 1], int) else {})
        if isinstance(step, int):
            if not isinstance(node, list):
                return
            while len(node) <= (step if step >= 0 else 0):
                node.append({} if not last else None)
            if last or not isinstance(node[step], (dict, list)):
                node[step] = following
            node = node[step]
        else:
            if not isinstance(node, dict):
                return
            if last or not isinstance(node.get(step), (dict, list)):
                node[step] = following
            node = node[step]


def placeholder(name: str, serial: int) -> str:
    """A plausible value for an output called ``name`` (ids, URLs, ARNs), marked rehearsal."""
    lowered = name.lower()
    if lowered.endswith("arn"):
        return f"arn:aws:rehearsal:eu-west-1:000000000000:{name}/rh-{serial}"
    if lowered.endswith(("url", "self", "link", "href")):
        return f"https://rehearsal.invalid/{name}/rh-{serial}"
    if lowered.endswith(("id", "key")):
        return f"rh-{serial}"
    return f"rehearsal-{name}-{serial}"


def document_for(outputs: Mapping[str, str], serial: int, extra: Mapping[str, Any]) -> Any:
    """A JSON answer in which every ``outputs`` expression finds a value."""
    document: dict[str, Any] = {"rehearsal": True, **extra}
    for name, expression in outputs.items():
        steps = _path_steps(str(expression))
        if steps and steps != ["@"]:
            last = steps[-1]
            _place(
                document, steps, placeholder(str(last) if isinstance(last, str) else name, serial)
            )
    return document


def satisfying(condition: str | None, serial: int) -> dict[str, Any]:
    """A status document for which ``condition`` (``path == literal``, ``path != literal`` or a
    bare path) is true; None: any document."""
    document: dict[str, Any] = {"rehearsal": True}
    if not condition:
        return document
    match = _COMPARE.match(condition.strip())
    if match is None:
        _place(document, _path_steps(condition), f"rehearsal-{serial}")
        return document
    literal_text = match.group("literal")
    literal: Any
    if literal_text.startswith("'"):
        literal = literal_text[1:-1]
    else:
        try:
            literal = json.loads(literal_text[1:-1])
        except ValueError:
            literal = literal_text[1:-1]
    if match.group("op") == "!=":
        if isinstance(literal, bool):
            literal = not literal
        elif isinstance(literal, (int, float)):
            literal = literal + 1
        else:
            literal = f"rehearsal-not-{literal}"
    _place(document, _path_steps(match.group("path")), literal)
    return document


def _pattern(template: str) -> tuple[str | None, re.Pattern[str] | None]:
    """The path pattern of a URL template (query dropped), or (None, None) when the URL does not
    start with ``{{environment.NAME}}``: the simulator only stands in for those targets."""
    first = _TOKEN.match(template)
    if first is None:
        return None, None
    env = _ENV.match(first.group(1))
    if env is None:
        return None, None
    rest = template[first.end() :].split("?", 1)[0]
    parts = []
    position = 0
    for token in _TOKEN.finditer(rest):
        parts.append(re.escape(rest[position : token.start()]))
        parts.append(r"[^?]*?")
        position = token.end()
    parts.append(re.escape(rest[position:]))
    return env.group(1), re.compile("/" + env.group(1) + "".join(parts) + "/?")


@dataclass(slots=True)
class RestRoute:
    """One rest-api action the simulator answers (and its async status URL, if any)."""

    item_id: str
    action_id: str
    method: str
    pattern: re.Pattern[str]
    status: int
    outputs: dict[str, str]
    status_pattern: re.Pattern[str] | None = None
    success_when: str | None = None
    failing: bool = False  # `pao rehearse --fail`: the target refuses the call
    calls: int = 0

    @classmethod
    def from_action(cls, item_id: str, action: Mapping[str, Any]) -> RestRoute | None:
        config = action.get("config") or {}
        if not isinstance(config, Mapping):
            return None
        _, pattern = _pattern(str(config.get("url", "")))
        if pattern is None:
            return None
        method = str(config.get("method", "POST")).upper()
        expected = config.get("expectedStatus") or []
        status = int(expected[0]) if expected else (201 if method == "POST" else 200)
        outputs = {str(k): str(v) for k, v in dict(config.get("outputs") or {}).items()}
        route = cls(item_id, str(action.get("id", "")), method, pattern, status, outputs)
        polled = config.get("async")
        if isinstance(polled, Mapping):
            _, route.status_pattern = _pattern(str(polled.get("statusUrl", "")))
            route.success_when = str(polled.get("successWhen") or "") or None
        return route


@dataclass(slots=True)
class _Call:
    method: str
    path: str
    status: int
    action: str | None


CatalogActions = Mapping[str, Iterable[Mapping[str, Any]]]  # item id -> its actions
CatalogFeedFn = Callable[[], CatalogActions | None]  # the items when changed, else None


class RestSimulator(HttpFake):
    """See the module docstring."""

    def __init__(self, catalog: CatalogFeedFn | None = None) -> None:
        super().__init__("rehearsal REST target")
        self.routes: list[RestRoute] = []
        self.calls: list[_Call] = []
        self.tokens_issued = 0
        self.catalog = catalog
        self._serial = itertools.count(1)

    def prime(self, item_id: str, actions: Iterable[Mapping[str, Any]]) -> None:
        """Learn the rest-api actions of one catalog item (replacing what it had before)."""
        with self.lock:
            failing = {r.action_id for r in self.routes if r.item_id == item_id and r.failing}
            self.routes = [r for r in self.routes if r.item_id != item_id]
            for action in actions:
                if action.get("type") == "rest-api":
                    route = RestRoute.from_action(item_id, action)
                    if route is not None:
                        route.failing = route.action_id in failing
                        self.routes.append(route)

    def follow(self) -> bool:
        """Learn what changed in the catalog since the last look (items added, edited or
        removed); whether anything did. Without a ``catalog`` feed, nothing changes."""
        with self.lock:
            items = self.catalog() if self.catalog is not None else None
            if items is None:
                return False
            for gone in {r.item_id for r in self.routes} - set(items):
                self.routes = [r for r in self.routes if r.item_id != gone]
            for item_id, actions in items.items():
                self.prime(item_id, actions)
        return True

    def fail(self, action_id: str) -> None:
        with self.lock:
            for route in self.routes:
                if route.action_id == action_id:
                    route.failing = True

    def handle(self, request: Recorded) -> Reply:
        self.follow()
        with self.lock:
            self.requests.append(request)
            reply, action = self._answer(request)
            self.calls.append(_Call(request.method, request.path, reply.status, action))
            return reply

    def _answer(self, request: Recorded) -> tuple[Reply, str | None]:
        serial = next(self._serial)
        if request.method == "POST" and request.path.endswith("/token"):
            self.tokens_issued += 1
            token = f"rehearsal-token-{serial}"
            return Reply(
                200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
            ), None
        for route in self.routes:
            if request.method == route.method and route.pattern.fullmatch(request.path):
                route.calls += 1
                if route.failing:
                    body = {
                        "rehearsal": True,
                        "error": f"forced failure of action {route.action_id} (pao rehearse --fail)",
                    }
                    return Reply(422, body), route.action_id
                echo = request.json() if request.body else None
                extra = {"request": echo} if echo is not None else {}
                if route.status == 204:
                    return Reply(204, b"", content_type="text/plain"), route.action_id
                return Reply(
                    route.status, document_for(route.outputs, serial, extra)
                ), route.action_id
        for route in self.routes:
            if (
                request.method == "GET"
                and route.status_pattern is not None
                and route.status_pattern.fullmatch(request.path)
            ):
                document = document_for(route.outputs, serial, {})
                document.update(satisfying(route.success_when, serial))
                return Reply(200, document), route.action_id
        known = sorted({f"{r.method} {r.pattern.pattern}" for r in self.routes})
        return Reply(
            404,
            {
                "rehearsal": True,
                "error": f"the rehearsal REST target was not primed for {request.method} "
                f"{request.path}",
                "known": known,
            },
        ), None

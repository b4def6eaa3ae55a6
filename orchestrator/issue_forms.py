"""Issue-form bodies back into request fields: the one parser (bot webhooks, Actions mode, CLI).

GitHub renders a submitted issue form as one section per question, in form order::

    ### <label>
    <blank line>
    <answer>

sections joined by a blank line. Empty inputs and textareas read ``_No response_``, an untouched
optional dropdown ``None``; dropdown choices are joined by ``, ``; checkboxes render every
option as ``- [X] label`` or ``- [ ] label`` (``x`` in either case). Nothing is escaped, so a
textarea answer may contain ``### `` lines and code fences of its own, keeps the user's CRLF,
and an edited body is all CRLF.

So the body is never split on ``### ``. The questions come from the item's generated form
(``orchestrator.forms.issue_form``) and are looked for *in form order*, each by its own label
(compared trimmed), as github/issue-parser does. Where an answer contains a line that looks like
the next question's heading, the split chosen is the cheapest by, in order: no question skipped,
structured answers (inputs, dropdowns, checkboxes) well-formed, no heading inside a code
fence the answer opened (CommonMark fence rules); ties go to the earliest heading. Only an
unfenced line ``### <next label>`` in a textarea, followed by text that is itself a well-formed
answer, remains ambiguous; it is read as the next question.

Answers of fields that are hidden for the values given (``conditional``) are ignored, whatever
GitHub rendered for them: issue forms cannot hide a question. Numbers are read only as finite
decimals. Secret (password) fields are never part of an issue form.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from orchestrator.catalog.models import CatalogItem, FormField
from orchestrator.editor_lines import split_lines
from orchestrator.forms import (
    CATALOG_LABEL_PREFIX,
    ISSUE_LABEL,
    catalog_label,
    issue_form,
    visibility,
)

NO_RESPONSE = "_No response_"
NO_SELECTION = "None"

Kind = Literal["input", "textarea", "dropdown", "checkboxes"]

_HEADING = re.compile(r"^ {0,3}###[ \t]+(.*?)[ \t]*$")
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_FENCE_CLOSE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")
_CHECKBOX = re.compile(r"^\s*[-*+] \[([ xX])\] ?(.*)$")
_DECIMAL = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_TITLE_ITEM = re.compile(r"^\s*\[([a-z0-9]+(?:-[a-z0-9]+)*)\]")


@dataclass(frozen=True)
class Question:
    """One question of the generated issue form, as GitHub renders it in the body."""

    spec: FormField
    kind: Kind
    label: str
    options: tuple[str, ...] = ()
    multiple: bool = False


@dataclass
class ParsedIssueForm:
    """What an issue body answers.

    ``fields``: the request fields (empty answers left out so defaults apply; hidden fields
    left out); ``answers``: field id -> the answer text as found (every question found);
    ``missing``: labels of questions the body does not contain; ``hidden``: ids of fields
    that were answered but are hidden for these values (ignored).
    """

    fields: dict[str, Any] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)


def questions(item: CatalogItem) -> tuple[Question, ...]:
    """The questions of ``item``'s issue form, in form order."""
    by_id = {f.id: f for f in item.fields()}
    found: list[Question] = []
    for element in issue_form(item)["body"]:
        spec = by_id.get(element.get("id", ""))
        if spec is None:
            continue
        attributes = element["attributes"]
        kind: Kind = element["type"]
        options = tuple(
            str(o["label"] if isinstance(o, dict) else o).strip()
            for o in attributes.get("options", ())
        )
        found.append(
            Question(
                spec=spec,
                kind=kind,
                label=str(attributes["label"]).strip(),
                options=options,
                multiple=bool(attributes.get("multiple")),
            )
        )
    return tuple(found)


def item_id_of(labels: set[str] | frozenset[str], title: str) -> str | None:
    """The catalog item an issue asks for: its ``catalog:<id>`` label, else ``[id]`` in the title.

    A label shortened to GitHub's 50 characters (``forms.catalog_label``) names the item only
    together with the title the form pre-fills (``[<id>] ``): the id there must shorten to it.
    """
    match = _TITLE_ITEM.match(title)
    titled = match.group(1) if match else None
    for label in sorted(labels):
        if label.startswith(CATALOG_LABEL_PREFIX):
            if "~" not in label:
                return label[len(CATALOG_LABEL_PREFIX) :]
            if titled is not None and catalog_label(titled) == label:
                return titled
            return None
    return titled


# -- sections ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fence:
    """An open fenced code block: its character and length."""

    char: str
    length: int


def fence_step(fence: Fence | None, line: str) -> Fence | None:
    """The fence state after ``line`` (CommonMark: an opening backtick fence's info string has
    no backtick; a closing fence is the same character, at least as long, nothing after it)."""
    if fence is None:
        opening = _FENCE_OPEN.match(line)
        if opening is None:
            return None
        marker, info = opening.group(1), opening.group(2)
        if marker[0] == "`" and "`" in info:
            return None
        return Fence(marker[0], len(marker))
    closing = _FENCE_CLOSE.match(line)
    if closing and closing.group(1)[0] == fence.char and len(closing.group(1)) >= fence.length:
        return None
    return fence


def _heading(line: str) -> str | None:
    match = _HEADING.match(line)
    return match.group(1).strip() if match else None


def _trim(lines: Sequence[str], kind: Kind) -> str:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    text = "\n".join(lines[start:end])
    return text if kind == "textarea" else text.strip()


def _well_formed(question: Question, answer: str) -> bool:
    """Could GitHub have rendered ``answer`` for this question?"""
    if question.kind == "textarea":
        return True
    if question.kind == "input":
        return "\n" not in answer
    if question.kind == "checkboxes":
        rows = [line for line in answer.split("\n") if line.strip()]
        if rows == [NO_RESPONSE]:
            return True
        return bool(rows) and all(_CHECKBOX.match(row) for row in rows)
    if answer in ("", NO_SELECTION):
        return True
    if not question.multiple:
        return answer in question.options
    return _split_options(answer, question.options) is not None


SEARCH_BUDGET = 200_000
Cost = tuple[int, int, int]
_ZERO: Cost = (0, 0, 0)


def _add(a: Cost, b: Cost) -> Cost:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def sections(item: CatalogItem, body: str | None) -> tuple[dict[str, str], list[str]]:
    """(field id -> answer text, labels not found) for an issue body made from ``item``'s form."""
    asked = questions(item)
    lines = split_lines(body or "")
    headings = [_heading(line) for line in lines]
    index_of = {q.label: i for i, q in reversed(list(enumerate(asked)))}
    memo: dict[tuple[int, int], tuple[Cost, list[tuple[int, int, int]]]] = {}
    # Lines scanned before the search settles for the first reading it finds: a body made of
    # thousands of look-alike headings (GitHub allows 65,536 characters) stays linear-ish.
    budget = [SEARCH_BUDGET]

    def solve(current: int, at: int) -> tuple[Cost, list[tuple[int, int, int]]]:
        """Cheapest reading from the heading of question ``current`` at line ``at`` (-1/-1:
        the start of the body). The plan lists (question, first line, end line) per answer."""
        key = (current, at)
        if key in memo:
            return memo[key]
        best: tuple[Cost, list[tuple[int, int, int]]] | None = None
        fence: Fence | None = None
        question = asked[current] if current >= 0 else None
        for line_no in range(at + 1, len(lines) + 1):
            budget[0] -= 1
            if best is not None and budget[0] < 0:
                break
            if line_no < len(lines):
                label = headings[line_no]
                target = index_of.get(label, -1) if label is not None else -1
                if label is not None and target <= current:
                    # a later question with the same label (deduplicated labels never repeat)
                    target = next(
                        (k for k in range(current + 1, len(asked)) if asked[k].label == label), -1
                    )
            else:
                target = len(asked)  # the end of the body: every later question missing
            if target > current:
                cost: Cost = (target - current - 1, 0, 1 if fence is not None else 0)
                if question is not None and question.kind != "textarea":
                    answer = _trim(lines[at + 1 : line_no], question.kind)
                    if not _well_formed(question, answer):
                        cost = _add(cost, (0, 1, 0))
                plan: list[tuple[int, int, int]] = (
                    [(current, at + 1, line_no)] if current >= 0 else []
                )
                if target < len(asked):
                    rest_cost, rest_plan = solve(target, line_no)
                    cost, plan = _add(cost, rest_cost), plan + rest_plan
                if best is None or cost < best[0]:
                    best = (cost, plan)
                    if cost == _ZERO:
                        break
            if line_no < len(lines):
                fence = fence_step(fence, lines[line_no])
        assert best is not None  # the end of the body is always a candidate
        memo[key] = best
        return best

    if not asked:
        return {}, []
    _cost, plan = solve(-1, -1)
    answers = {
        asked[number].spec.id: _trim(lines[first:end], asked[number].kind)
        for number, first, end in plan
    }
    missing = [q.label for q in asked if q.spec.id not in answers]
    return answers, missing


# -- values ------------------------------------------------------------------------------------


def _split_options(answer: str, options: Sequence[str]) -> list[str] | None:
    """``answer`` as options joined by ``, `` (labels may contain ``, `` themselves)."""
    known = set(options)

    @cache
    def split(start: int) -> tuple[str, ...] | None:
        if start == len(answer):
            return ()
        for end in range(len(answer), start, -1):
            piece = answer[start:end]
            if piece in known and (end == len(answer) or answer.startswith(", ", end)):
                rest = split(end + 2 if end < len(answer) else end)
                if rest is not None:
                    return (piece, *rest)
        return None

    picked = split(0)
    return list(picked) if picked is not None else None


def _option_values(spec: FormField) -> dict[str, Any]:
    labels = spec.enum_labels or {}
    values: dict[str, Any] = {}
    for option in spec.enum or ():
        values.setdefault(str(option).strip(), option)
    for option in spec.enum or ():
        values[labels.get(str(option), str(option)).strip()] = option
    return values


def parse_number(text: str) -> int | float | None:
    """A finite decimal (``12``, ``-0.5``, ``1e3``), else None: never NaN or infinity."""
    text = text.strip()
    if not _DECIMAL.match(text):
        return None
    if re.fullmatch(r"[+-]?[0-9]+", text):
        return int(text)
    number = float(text)
    return number if math.isfinite(number) else None


def answer_value(question: Question, answer: str) -> tuple[bool, Any]:
    """(answered, value) of one answer. Values that do not parse are kept as text, so request
    validation reports them with the field's own message."""
    spec = question.spec
    if question.kind in ("input", "textarea"):
        if answer in ("", NO_RESPONSE):
            return False, None
        if spec.type == "number":
            number = parse_number(answer)
            return True, answer if number is None else number
        return True, answer
    if question.kind == "checkboxes":
        rows = [_CHECKBOX.match(line) for line in answer.split("\n")]
        for row in rows:
            if row is not None and row.group(2).strip() == question.options[0]:
                return True, row.group(1) in "xX"
        return False, None
    if answer in ("", NO_SELECTION):
        return False, None
    if spec.type == "boolean":  # a Yes/No dropdown
        return True, {"Yes": True, "No": False}.get(answer, answer)
    values = _option_values(spec)
    if not question.multiple:
        return True, values.get(answer, answer)
    picked = _split_options(answer, tuple(values))
    if picked is None:
        return True, [values.get(part.strip(), part.strip()) for part in answer.split(", ")]
    return True, [values[part] for part in picked]


def parse_issue_form(item: CatalogItem, body: str | None) -> ParsedIssueForm:
    """The request fields an issue body made from ``item``'s form answers (see the module)."""
    answers, missing = sections(item, body)
    by_id = {q.spec.id: q for q in questions(item)}
    fields: dict[str, Any] = {}
    for field_id, answer in answers.items():
        answered, value = answer_value(by_id[field_id], answer)
        if answered:
            fields[field_id] = value
    shown = visibility(item, fields)
    hidden = [field_id for field_id in fields if not shown.get(field_id, True)]
    for field_id in hidden:
        del fields[field_id]
    return ParsedIssueForm(fields=fields, answers=answers, missing=missing, hidden=hidden)


def field_labels(item: CatalogItem) -> dict[str, str]:
    """Field id -> the label its question has in the issue form (for messages)."""
    return {q.spec.id: q.label for q in questions(item)}


__all__ = [
    "CATALOG_LABEL_PREFIX",
    "ISSUE_LABEL",
    "NO_RESPONSE",
    "NO_SELECTION",
    "Fence",
    "ParsedIssueForm",
    "Question",
    "answer_value",
    "fence_step",
    "field_labels",
    "item_id_of",
    "parse_issue_form",
    "parse_number",
    "questions",
    "sections",
]

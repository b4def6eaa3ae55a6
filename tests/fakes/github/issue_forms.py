"""GitHub's rendering of a submitted issue form into the issue body.

What a person typed or picked becomes the body GitHub stores (docs: "Syntax for issue forms";
observed bodies): one ``### <label>`` heading per non-markdown element in form order, a blank
line, the answer; sections joined by a blank line. Empty inputs and textareas read
``_No response_``; a dropdown nobody touched reads ``None`` (its ``default`` when it has one);
picked options are joined by ``, ``; checkboxes list every option, ``- [X]`` or ``- [ ]``.
Nothing is escaped. A textarea keeps the line breaks the person typed (CRLF from a browser
form); a body edited on github.com is saved with CRLF throughout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Answer = str | Sequence[int] | Sequence[bool] | None


def render_answer(element: Mapping[str, Any], answer: Answer) -> str:
    """The text GitHub puts under one element's heading.

    ``answer``: the typed text (input, textarea), the picked option indexes (dropdown; None:
    untouched), the ticked flags per option (checkboxes).
    """
    attributes = element["attributes"]
    kind = element["type"]
    if kind in ("input", "textarea"):
        text = answer if isinstance(answer, str) else None
        return text if text else "_No response_"
    if kind == "dropdown":
        options = [str(o) for o in attributes["options"]]
        if answer is None:
            default = attributes.get("default")
            return options[default] if isinstance(default, int) else "None"
        picked = [options[i] for i in answer if isinstance(i, int)]
        return ", ".join(picked) if picked else "None"
    if kind == "checkboxes":
        ticks = list(answer or []) if not isinstance(answer, str) else []
        rows = []
        for number, option in enumerate(attributes["options"]):
            ticked = bool(ticks[number]) if number < len(ticks) else False
            rows.append(f"- [{'X' if ticked else ' '}] {option['label']}")
        return "\n".join(rows)
    raise ValueError(f"not an answerable element: {kind}")


def render_issue_body(
    form: Mapping[str, Any], answers: Mapping[str, Answer], *, edited: bool = False
) -> str:
    """The body of an issue created from ``form`` with ``answers`` (element id -> answer)."""
    sections = [
        f"### {element['attributes']['label']}\n\n"
        + render_answer(element, answers.get(element.get("id", "")))
        for element in form["body"]
        if element["type"] != "markdown"
    ]
    body = "\n\n".join(sections)
    if edited:  # github.com saves an edited body with CRLF line breaks throughout
        body = body.replace("\r\n", "\n").replace("\n", "\r\n")
    return body

"""The template language's errors: the located, human ``TemplateRenderError`` and its syntax
case, raised by the grammar (``translate``) before anything renders.

They sit here, not in ``templating``, because the grammar is static (the catalog's checks use
it too); ``orchestrator.templating.errors`` adds the rendering-time cases on this base.
"""

from __future__ import annotations

from collections.abc import Collection

from orchestrator.redaction import scrub


class TemplateRenderError(Exception):
    """A template could not be rendered; ``str()`` gives the located, human message.

    ``code`` is stable for tools: ``template-syntax``, ``undefined-variable``, ``sandbox``,
    ``limit`` or ``render``.
    """

    code = "render"

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        suggestion: str | None = None,
        offset: int | None = None,
        pointer: str = "",
        action_id: str | None = None,
        template: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.suggestion = suggestion
        self.offset = offset
        self.pointer = pointer
        self.action_id = action_id
        self.template = template

    def located(self, *, pointer: str = "", action_id: str | None = None) -> TemplateRenderError:
        """Fill in where the template lives (kept if already set by an inner call)."""
        if not self.pointer:
            self.pointer = pointer
        if self.action_id is None:
            self.action_id = action_id
        return self

    def scrubbed(self, secrets: Collection[str]) -> TemplateRenderError:
        """Remove secret values from every text of the error (messages must never leak them)."""
        if secrets:
            self.message = scrub(self.message, secrets)
            if self.template is not None:
                self.template = scrub(self.template, secrets)
            self.args = (self.message,)
        return self

    @property
    def location(self) -> str:
        parts = []
        if self.action_id:
            parts.append(f"action '{self.action_id}'")
        if self.pointer:
            parts.append(f"at {self.pointer}")
        if self.offset is not None:
            parts.append(f"character {self.offset + 1}")
        return " ".join(parts)

    def __str__(self) -> str:
        where = self.location
        return f"{where}: {self.message}" if where else self.message

    def to_dict(self) -> dict[str, object]:
        """The JSON shape the API returns for a template error."""
        return {
            "code": self.code,
            "message": self.message,
            "path": self.path,
            "suggestion": self.suggestion,
            "pointer": self.pointer,
            "actionId": self.action_id,
            "offset": self.offset,
        }


class TemplateSyntaxRenderError(TemplateRenderError):
    """The template is malformed or uses something outside the catalog's template grammar."""

    code = "template-syntax"

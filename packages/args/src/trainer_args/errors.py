"""The one error type for bad arguments, with the field, the value and a suggestion."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["FieldError", "ValidationError", "closest"]

_MAX_LISTED = 20


def closest(word: object, candidates: Iterable[object]) -> str | None:
    """The candidate nearest to `word` (difflib), or None when nothing is close."""
    import difflib  # only needed when something is wrong

    names = [str(c) for c in candidates]
    matches = difflib.get_close_matches(str(word), names, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _short_repr(value: Any) -> str:
    """repr(value), cut down when it is big (YAML aliases can make it billions of items)."""
    import reprlib

    short = reprlib.Repr()
    short.maxlevel, short.maxstring, short.maxother, short.maxlong = 3, 200, 200, 60
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = 6
    text = short.repr(value)
    return text if "..." in text else repr(value)


class FieldError:
    """One problem: which field (a dotted path), the value given, what is wrong and allowed."""

    __slots__ = ("allowed", "field", "message", "suggestion", "value")

    def __init__(
        self,
        field: str,
        value: Any,
        message: str,
        allowed: Sequence[object] | str | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.field = field
        self.value = value
        self.message = message
        self.allowed = allowed
        self.suggestion = suggestion
        if suggestion is None and allowed is not None and not isinstance(allowed, str):
            self.suggestion = closest(value, allowed) if isinstance(value, str) else None

    def __str__(self) -> str:
        text = f"{self.field}={_short_repr(self.value)}: {self.message}"
        if self._show_allowed() and self.allowed is not None:
            allowed = self.allowed if isinstance(self.allowed, str) else list(self.allowed)
            text += f" (allowed: {allowed})"
        if self.suggestion is not None:
            text += f"; did you mean {self.suggestion!r}?"
        return text

    def __repr__(self) -> str:
        return f"FieldError({self!s})"

    def _show_allowed(self) -> bool:
        """List the allowed values unless the message already does or there are too many to read."""
        if self.allowed is None or str(self.allowed) in self.message:
            return False
        return isinstance(self.allowed, str) or len(self.allowed) <= _MAX_LISTED


class ValidationError(ValueError):
    """Raised for every invalid argument value, combination or unknown key.

    `errors` holds one `FieldError` per problem found; the message lists them all.
    It subclasses ValueError because transformers raises ValueError for the same inputs.
    """

    def __init__(self, errors: FieldError | Sequence[FieldError]) -> None:
        self.errors: list[FieldError] = [errors] if isinstance(errors, FieldError) else list(errors)
        super().__init__(self._format())

    @classmethod
    def for_field(
        cls,
        field: str,
        value: Any,
        message: str,
        allowed: Sequence[object] | str | None = None,
        suggestion: str | None = None,
    ) -> ValidationError:
        """An error with a single problem: shorthand for `ValidationError(FieldError(...))`."""
        return cls(FieldError(field, value, message, allowed, suggestion))

    def _format(self) -> str:
        if len(self.errors) == 1:
            return str(self.errors[0])
        lines = "\n".join(f"- {e}" for e in self.errors)
        return f"{len(self.errors)} invalid arguments:\n{lines}"

    def prefixed(self, prefix: str) -> ValidationError:
        """The same errors with `prefix` (e.g. a file name or parent field) before each field path."""
        errors = [
            FieldError(f"{prefix}.{e.field}", e.value, e.message, e.allowed, e.suggestion)
            for e in self.errors
        ]
        return ValidationError(errors)

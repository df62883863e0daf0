"""Typed, frozen records that refuse what they do not know: the base of core.requests.

Fields are declared like a dataclass's: `name: str | None = None`. The annotation is read
as text from a small table of kinds (KINDS) instead of through `dataclasses` and `typing`,
which cost `tui launch` ~10 ms and ~7 ms to import (msgspec ~15 ms) on a ~30 ms hot path.
Reading a record (`from_dict`) refuses an unknown field (named, with a did-you-mean hint
and the known fields), a missing field and a value of the wrong type; nothing is silently
dropped or defaulted. A record is frozen: its fields are set once, checked, and copied from
what was given.
"""

from __future__ import annotations

import math
import sys

from core.errors import UsageError

TYPE_CHECKING = False               # typing itself costs ~7 ms to import: only checkers read it
if TYPE_CHECKING:
    from typing import Any, Callable, ClassVar, Self

_INT64 = 2 ** 63                    # what SQLite stores; a larger int is refused up front


# ---------------------------------------------------------------- kinds of values

class Kind:
    """What one annotation allows: a check that returns the value to keep, or raises
    ValueError; `what` says it in words for the error."""

    def __init__(self, what: str, accept: Callable[[Any], Any]):
        self.what = what
        self.accept = accept


def _text(value: Any) -> str:
    if not isinstance(value, str) or "\0" in value:
        raise ValueError
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -_INT64 <= value < _INT64:
        raise ValueError
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value):
        raise ValueError
    return float(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError
    return value


def _list_of(item: Callable[[Any], Any]) -> Callable[[Any], list]:
    def accept(value: Any) -> list:
        if not isinstance(value, (list, tuple)):
            raise ValueError
        return [item(v) for v in value]
    return accept


def _run_ref(value: Any) -> int | str:
    return _integer(value) if not isinstance(value, str) else _text(value)


def _text_table(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError
    return {_text(k): _text(v) for k, v in value.items()}


KINDS = {
    "str": Kind("a string", _text),
    "int": Kind("an integer", _integer),
    "float": Kind("a finite number", _number),
    "bool": Kind("true or false", _flag),
    "list[str]": Kind("a list of strings", _list_of(_text)),
    "list[int]": Kind("a list of run ids (integers)", _list_of(_integer)),
    "list[int | str]": Kind('a list of run ids (integers, or "last")', _list_of(_run_ref)),
    "dict[str, str]": Kind("a table of strings", _text_table),
}


# ---------------------------------------------------------------- records

class _Field:
    def __init__(self, name: str, kind: Kind | type[Record], optional: bool, default: Any):
        self.name = name
        self.kind = kind
        self.optional = optional
        self.default = default          # _REQUIRED when the field must be given

    @property
    def what(self) -> str:
        what = self.kind.what if isinstance(self.kind, Kind) else "an object"
        return what + (" or null" if self.optional else "")


_REQUIRED = object()


class Record:
    """A frozen value with checked fields (see the module docstring)."""

    FIELDS: ClassVar[dict[str, _Field]] = {}
    TITLE: ClassVar[str] = "record"     # how errors name it: "launch request: gpus: ..."

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = sys.modules[cls.__module__].__dict__
        fields = dict(cls.FIELDS)
        for name, annotation in cls.__annotations__.items():     # its own, as text
            if annotation.startswith("ClassVar"):
                continue
            text = annotation.removesuffix(" | None")
            kind = KINDS.get(text) or names.get(text)
            if not isinstance(kind, Kind) and not (isinstance(kind, type) and
                                                   issubclass(kind, Record)):
                raise TypeError(f"{cls.__name__}.{name}: no kind for {annotation!r}")
            fields[name] = _Field(name, kind, text != annotation,
                                  cls.__dict__.get(name, _REQUIRED))
        cls.FIELDS = fields

    def __init__(self, **values: Any) -> None:
        self._fill(values, self.TITLE)

    def _fill(self, values: dict, where: str) -> None:
        unknown = [key for key in values if key not in self.FIELDS]
        if unknown:
            raise _unknown_field(type(self), where, unknown[0])
        for name, spec in self.FIELDS.items():
            if name in values:
                value = _checked(spec, values[name], where)
            elif spec.default is _REQUIRED:
                raise UsageError(f"{where}: {name}: missing", hint=f"{name} is {spec.what}")
            else:
                value = _copy(spec.default)
            object.__setattr__(self, name, value)
        self.check()

    def check(self) -> None:
        """Rules across fields (a subclass's); raise UsageError."""

    @classmethod
    def from_dict(cls, data: Any, where: str | None = None) -> Self:
        """The record a JSON object describes; refuses unknown fields and wrong types."""
        where = where or cls.TITLE
        if not isinstance(data, dict):
            raise UsageError(f"{where}: expected an object, got {shown(data)}",
                             hint="fields: " + ", ".join(cls.FIELDS))
        record = cls.__new__(cls)
        record._fill(data, where)
        return record

    @classmethod
    def stored(cls, **values: Any) -> Self:
        """A record from values runyard wrote itself (a store row): not checked again,
        since reading 10,000 runs must stay cheap. Every field must be given."""
        record = cls.__new__(cls)
        for name in cls.FIELDS:
            object.__setattr__(record, name, values[name])
        return record

    def to_dict(self) -> dict:
        """The fields as JSON-ready values (what `from_dict` reads back)."""
        return {name: _plain(getattr(self, name)) for name in self.FIELDS}

    def replace(self, **changes: Any) -> Self:
        """A copy with these fields changed, checked like a new record."""
        return type(self)(**{**{name: getattr(self, name) for name in self.FIELDS}, **changes})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: use replace()")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(
            getattr(self, n) == getattr(other, n) for n in self.FIELDS)

    __hash__ = None         # type: ignore[assignment]   # equal by value, and mutable inside

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.FIELDS)
        return f"{type(self).__name__}({fields})"


def _checked(spec: _Field, value: Any, where: str) -> Any:
    if value is None and spec.optional:
        return None
    if isinstance(spec.kind, type):                  # a nested record
        if isinstance(value, spec.kind):
            return value
        return spec.kind.from_dict(value, f"{where}: {spec.name}")
    try:
        return spec.kind.accept(value)
    except (ValueError, TypeError):
        raise UsageError(f"{where}: {spec.name}: expected {spec.what}, got {shown(value)}",
                         hint=f"{spec.name} is {spec.what}"
                              + ("; leave it out for the default" if
                                 spec.default is not _REQUIRED else "")) from None


def _unknown_field(cls: type[Record], where: str, key: Any) -> UsageError:
    names = {name: name for name in cls.FIELDS}
    for name, spec in cls.FIELDS.items():          # a field of a nested record, one level
        if isinstance(spec.kind, type):
            names.update((sub, f"{name}.{sub}") for sub in spec.kind.FIELDS if sub not in names)
    import difflib           # lazy: ~0.8 ms every request pays; only a refused one needs it
    close = difflib.get_close_matches(str(key), list(names), n=1, cutoff=0.6)
    hint = f"did you mean {names[close[0]]}? " if close else ""
    return UsageError(f"{where}: {_shown_key(key)}: unknown field",
                      hint=hint + "known fields: " + ", ".join(cls.FIELDS))


def _shown_key(key: Any) -> str:
    """A field name for an error line: a plain name as it is, anything else quoted."""
    return key if isinstance(key, str) and key.isidentifier() else shown(key)


def shown(value: Any) -> str:
    """A value for an error line: quoted (control characters escaped), and short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    return _copy(value)

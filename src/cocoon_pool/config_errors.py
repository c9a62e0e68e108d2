"""One clear line from a pydantic error in a TOML config file (oracle.toml, pool.toml).

Both loaders validate with strict pydantic models that forbid unknown keys; this module
turns pydantic's error list into ``(key, message, hint)`` problems written in the file's own
words (``pool.commission_bps``, ``members[0].address``), with a did-you-mean hint for a
misspelt key. Each loader supplies its tables and hints and wraps the result in its own
error class.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

MAX_PROBLEMS_SHOWN = 5
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def shape(loc: Sequence[int | str]) -> tuple[str, ...]:
    """The location with array indexes replaced by ``*``, to look tables and hints up."""
    return tuple("*" if isinstance(part, int) else part for part in loc)


def where(loc: Sequence[int | str]) -> str:
    """The location as a TOML reader writes it: ``scoring.gpu_table."H100 NVL"``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            key = part if _BARE_KEY.fullmatch(part) else f'"{part}"'
            text += f".{key}" if text else key
    return text


def show(value: object) -> str:
    """A short rendering of the offending value; a TOML float read as Decimal shows as written."""
    shown = str(value) if isinstance(value, Decimal) else repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


@dataclass(frozen=True)
class Problem:
    key: str
    """Where in the file, e.g. ``pool.commission_bps`` or ``members[0].address``."""
    message: str
    hint: str


@dataclass(frozen=True)
class SchemaErrors:
    """How one config file's schema reports its validation errors."""

    tables: Mapping[tuple[str, ...], type[BaseModel]]
    """Where each schema model sits in the file; ``*`` stands for an array index."""
    hint_for: Callable[[tuple[str, ...]], str]
    """The fix for a bad or missing value at a location shape."""
    default_hint: str
    arrays: Mapping[tuple[str, ...], tuple[str, str]] = field(default_factory=dict)
    """Arrays of tables: ``(message, hint)`` when the key holds something else."""
    quiet_keys: Collection[str] = ()
    """Keys whose value is never echoed: a secret may have been pasted there by mistake."""

    def problem(self, error: ErrorDetails) -> Problem:
        """One pydantic error in the file's own words."""
        loc = error["loc"]
        at, key, kind = shape(loc), where(loc), error["type"]
        if kind == "extra_forbidden":
            parent = self.tables.get(at[:-1])
            allowed = list(parent.model_fields) if parent else []
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            guess = f"did you mean {close[0]}? " if close else ""
            return Problem(key, f"unknown key {key}", f"{guess}allowed here: {', '.join(allowed)}")
        if kind == "missing":
            if at in self.tables:
                return Problem(key, f"missing table [{key}]", self.default_hint)
            return Problem(key, f"missing {key}", self.hint_for(at))
        if at in self.tables and kind in ("model_type", "model_attributes_type", "dict_type"):
            return Problem(key, f"{key} must be a table", f"write it as a [{key}] table")
        if at in self.arrays:
            message, hint = self.arrays[at]
            return Problem(key, message, hint)
        text = error["msg"]
        text = text[:1].lower() + text[1:]
        if at and at[-1] in self.quiet_keys:
            return Problem(key, f"{key}: {text}", self.hint_for(at))
        return Problem(key, f"{key} = {show(error['input'])}: {text}", self.hint_for(at))

    def problems(self, exc: ValidationError) -> list[Problem]:
        errors = exc.errors(include_url=False)
        # Unknown keys first: a misspelt key also shows up as a missing one, and the hint of
        # the first problem ("did you mean ...?") is the one that fixes both.
        errors.sort(key=lambda e: e["type"] != "extra_forbidden")
        return [self.problem(e) for e in errors]


def summary(problems: Sequence[Problem], max_shown: int = MAX_PROBLEMS_SHOWN) -> str:
    """The first few messages joined into one line; the rest are counted."""
    shown = [p.message for p in problems[:max_shown]]
    if len(problems) > max_shown:
        shown.append(f"and {len(problems) - max_shown} more")
    return "; ".join(shown)

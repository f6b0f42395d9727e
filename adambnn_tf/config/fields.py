"""How a configuration field is declared: its default, its check, its help and its flag.

A field of the run configuration (`adambnn_tf.config.RunConfig`) is a dataclass field made
with `setting(...)`. Its metadata is what the command line, the JSON reader, `--set` and
`validate()` read, so that each setting is declared exactly once.

Pure Python (no TensorFlow import): the command line builds its `--help` from these fields.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from collections.abc import Sequence
from typing import Any

__all__ = ["ConfigError", "Setting", "check_value", "coerce", "setting", "setting_of"]

_NONE_WORDS = ("none", "null")
_TRUE_WORDS = ("true", "yes", "1", "on")
_FALSE_WORDS = ("false", "no", "0", "off")


class ConfigError(ValueError):
    """A configuration value, key or combination is not allowed; the message names the key
    and what it accepts."""


@dataclasses.dataclass(frozen=True)
class Setting:
    """The metadata of one configuration field.

    # Arguments
        help: one line for `--help` and the documentation.
        choices: the allowed values, or `None` for any value of the type.
        check: a named range check (`"positive"`, `"non_negative"`, `"finite"`,
            `"unit_interval"`: in [0, 1)), or `None`.
        flag: the command-line flag, `None` for the default `--<name-with-dashes>`, `""` for
            none (the field is still reachable with `--set`).
        negative_flag: for a boolean, the flag that sets it to `False` (e.g. `--no-augment`).
        identity: whether the field changes what is trained: a run directory resumes only with
            the same values of these (`False` for export, reporting and display options).
        path: the value is a file or folder path (compared resolved, not as spelled).
        both_stages: for a stage setting, whether its flag takes one value for both stages
            (or two: stage 1's and stage 2's); otherwise it takes exactly two.
    """

    help: str
    choices: Sequence[Any] | None = None
    check: str | None = None
    flag: str | None = None
    negative_flag: str | None = None
    identity: bool = True
    path: bool = False
    both_stages: bool = False


def setting(default: Any, help: str, **options: Any) -> Any:
    """A dataclass field with a default and the `Setting` metadata (see `Setting`).

    !!! example
        ```python
        @dataclasses.dataclass(frozen=True)
        class DataConfig:
            batch_size: int = setting(128, "the global batch size", check="positive")
        ```

    # Arguments
        default: the one default of the setting.
        help: one line of help.
        **options: the other `Setting` fields.

    # Returns
        A `dataclasses.field`.
    """
    return dataclasses.field(default=default, metadata={"setting": Setting(help, **options)})


def setting_of(field: dataclasses.Field) -> Setting:
    """The `Setting` of a configuration field."""
    return field.metadata["setting"]


def _allowed_types(annotation: Any) -> tuple[type, ...]:
    """`int | None` -> `(int, NoneType)`; a plain type -> `(type,)`."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return tuple(typing.get_args(annotation))
    return (annotation,)


def _describe(types_: tuple[type, ...]) -> str:
    return " or ".join("null" if kind is type(None) else kind.__name__ for kind in types_)


def _from_text(text: str, types_: tuple[type, ...], key: str) -> Any:
    lowered = text.strip().lower()
    if type(None) in types_ and lowered in _NONE_WORDS:
        return None
    for kind in types_:
        if kind is bool:
            if lowered in _TRUE_WORDS:
                return True
            if lowered in _FALSE_WORDS:
                return False
        elif kind is int:
            try:
                return int(lowered)
            except ValueError:
                pass
        elif kind is float:
            try:
                return float(lowered)
            except ValueError:
                pass
        elif kind is str:
            return text
    raise ConfigError(f"{key}: {text!r} is not a {_describe(types_)}.")


def coerce(value: Any, annotation: Any, key: str) -> Any:
    """Converts a JSON or command-line value to a field's type, or fails naming the key.

    Text is parsed (`"1e-3"` for a float, `"none"` for an optional value, `"true"`/`"false"`
    for a boolean); an integer is accepted for a float; `True`/`False` are not numbers.

    # Arguments
        value: the value (from JSON, Python or text).
        annotation: the field's type annotation (e.g. `int | None`).
        key: the dotted key, for the message.

    # Returns
        The value as the field's type.

    # Raises
        ConfigError: for a value of another type.
    """
    types_ = _allowed_types(annotation)
    if isinstance(value, str) and (str not in types_ or value.strip().lower() in _NONE_WORDS):
        return _from_text(value, types_, key)
    if value is None and type(None) in types_:
        return None
    if isinstance(value, bool):
        if bool in types_:
            return value
    elif isinstance(value, numbers.Integral) and int in types_:
        return int(value)
    elif isinstance(value, numbers.Real) and float in types_:
        return float(value)
    elif isinstance(value, str) and str in types_:
        return value
    raise ConfigError(f"{key}: {value!r} is not a {_describe(types_)}.")


def check_value(value: Any, annotation: Any, spec: Setting, key: str) -> None:
    """Checks one value against its field's type, choices and range.

    # Raises
        ConfigError: naming the key and what it accepts.
    """
    types_ = _allowed_types(annotation)
    if isinstance(value, str) and str not in types_:  # text is parsed by `coerce` only
        raise ConfigError(f"{key}: {value!r} is not a {_describe(types_)}.")
    coerce(value, annotation, key)
    if spec.choices is not None and value not in spec.choices:
        raise ConfigError(f"{key}: {value!r} is not one of {list(spec.choices)}.")
    if value is None or spec.check is None or isinstance(value, bool | str):
        return
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value!r}.")
    if spec.check == "positive" and not value > 0:
        raise ConfigError(f"{key} must be positive, got {value!r}.")
    if spec.check == "non_negative" and not value >= 0:
        raise ConfigError(f"{key} must be 0 or more, got {value!r}.")
    if spec.check == "unit_interval" and not 0 <= value < 1:
        raise ConfigError(f"{key} must be in [0, 1), got {value!r}.")

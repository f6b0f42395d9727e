"""Command-line options derived from the run configuration's fields.

Every leaf of `adambnn_tf.config.RunConfig` with a flag becomes an option whose help, choices
and default come from its declaration; the stage settings (`stage1.epochs`,
`stage2.epochs`, ...) share one flag that takes stage 1's and stage 2's values. Options that
are not given leave the recipe's value alone; a switch has an on and an off flag (`--augment`,
`--no-augment`); `--set KEY=VALUE` reaches every field.

!!! example
    ```python
    parser = argparse.ArgumentParser(allow_abbrev=False)
    add_config_options(parser)
    config = config_from_options(parser.parse_args(["--epochs", "3", "2", "--seed", "1"]))
    train_arguments(config)  # ["--recipe", "quickstart", "--epochs", "3", "2", "--seed", "1"]
    ```
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from adambnn_tf.config import DEFAULT_RECIPE, ConfigError, RunConfig, recipe, recipe_names
from adambnn_tf.config.fields import setting_of
from adambnn_tf.config.schema import StageConfig

__all__ = ["add_config_options", "config_from_options", "train_arguments"]

_STAGES = ("stage1", "stage2")


def _flag(key: str, spec) -> str:
    return spec.flag or "--" + key.rsplit(".", 1)[-1].replace("_", "-")


def _default_text(value: Any) -> str:
    return "none" if value is None else str(value)


def _value_text(value: Any) -> str:
    """A value as text that `coerce` reads back to the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _default_text(value)


def _option_fields():
    """`(key, flag, setting, default)` of every non-stage leaf that has a flag."""
    defaults = RunConfig()
    for key, field, _ in RunConfig.leaves():
        spec = setting_of(field)
        if key.split(".")[0] in _STAGES or spec.flag == "":
            continue
        yield key, _flag(key, spec), spec, defaults.get(key)


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """Adds `--recipe`, `--config`, one option per configuration field, and `--set`.

    # Arguments
        parser: the parser of `adambnn train` (or any parser that runs a configuration).
    """
    parser.add_argument(
        "--recipe",
        choices=recipe_names(),
        help=f"the named recipe the options change (default: {DEFAULT_RECIPE}; "
        "`adambnn recipes` lists them)",
    )
    parser.add_argument(
        "--config",
        metavar="JSON",
        help="start from a configuration file instead of a recipe, e.g. a run directory's "
        "run.json (to re-run or resume it)",
    )
    for key, flag, spec, default in _option_fields():
        if spec.negative_flag:  # a switch: a flag for each side, so a recipe's value can flip
            switch = parser.add_mutually_exclusive_group()
            for option, value, side in ((flag, "true", "on"), (spec.negative_flag, "false", "off")):
                switch.add_argument(
                    option,
                    dest=key,
                    action="store_const",
                    const=value,
                    default=argparse.SUPPRESS,
                    help=f"{spec.help}: {side} ({key}; default {'on' if default else 'off'})",
                )
            continue
        parser.add_argument(
            flag,
            dest=key,
            default=argparse.SUPPRESS,
            choices=[_default_text(choice) for choice in spec.choices] if spec.choices else None,
            metavar=None if spec.choices else key.rsplit(".", 1)[-1].upper(),
            help=f"{spec.help} ({key}; default {_default_text(default)})",
        )
    defaults = RunConfig()
    for field in dataclasses.fields(StageConfig):
        spec = setting_of(field)
        values = [defaults.get(f"{stage}.{field.name}") for stage in _STAGES]
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=f"stages.{field.name}",
            nargs="+" if spec.both_stages else 2,
            metavar=("STAGE1", "STAGE2") if not spec.both_stages else "VALUE",
            default=argparse.SUPPRESS,
            help=f"{spec.help}: "
            + ("one value for both stages, or two: " if spec.both_stages else "")
            + f"stage 1's and stage 2's (stage1.{field.name}, stage2.{field.name}; default "
            f"{' '.join(map(str, values))})",
        )
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set any configuration field, e.g. --set training.decay_form=decoupled "
        "(`adambnn recipes --show NAME` lists the keys)",
    )


def _stage_overrides(name: str, values: list[str]) -> dict[str, str]:
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        raise ConfigError(
            f"--{name.replace('_', '-')} takes one value for both stages or two (stage 1's and "
            f"stage 2's), got {len(values)}: {' '.join(values)}."
        )
    return {f"{stage}.{name}": value for stage, value in zip(_STAGES, values, strict=True)}


def _set_overrides(settings: list[str]) -> dict[str, str]:
    overrides = {}
    for item in settings:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise ConfigError(f"--set {item!r}: write KEY=VALUE, e.g. --set stage1.epochs=3.")
        overrides[key.strip()] = value
    return overrides


def config_from_options(args: argparse.Namespace) -> RunConfig:
    """The configuration that parsed options describe: the recipe (or `--config` file), then
    the options given, then `--set`, validated.

    # Arguments
        args: options parsed by a parser with `add_config_options`.

    # Returns
        The validated `RunConfig`.

    # Raises
        ConfigError: for an unknown key, a bad value or combination (naming the key and what
            it accepts), or both `--recipe` and `--config`.
    """
    if args.recipe and args.config:
        raise ConfigError(
            "--recipe and --config both choose where the settings start; give one of them."
        )
    base = RunConfig.load(args.config) if args.config else recipe(args.recipe or DEFAULT_RECIPE)
    overrides: dict[str, Any] = {}
    for name, value in vars(args).items():
        if name.startswith("stages."):
            overrides.update(_stage_overrides(name.split(".", 1)[1], value))
        elif "." in name or name == "output_dir":
            overrides[name] = value
    overrides.update(_set_overrides(args.settings))
    config = base.with_overrides(overrides)
    config.validate()
    return config


def train_arguments(config: RunConfig) -> list[str]:
    """The `adambnn train` options that give `config`: its recipe, then what differs from it.

    Stage settings use their shared flag (`--epochs 12 10`), switches their on or off flag
    (`--augment`, `--no-augment`), other fields with a flag use it, the rest `--set
    KEY=VALUE`, so that a run's `run.json` can be stated as the command a reader types.
    `config_from_options` on these options gives `config` back.

    # Arguments
        config: a validated configuration (e.g. `RunConfig.load("runs/x/run.json")`).

    # Returns
        The options, one list item per shell word (join them with `shlex.join`).

    !!! example
        ```python
        config = recipe("fashion-mnist").with_overrides({"training.seed": 1})
        train_arguments(config)  # ["--recipe", "fashion-mnist", "--seed", "1"]
        ```
    """
    base = recipe(config.recipe)
    arguments = ["--recipe", config.recipe]
    for field in dataclasses.fields(StageConfig):
        values = [config.get(f"{stage}.{field.name}") for stage in _STAGES]
        if values == [base.get(f"{stage}.{field.name}") for stage in _STAGES]:
            continue
        if setting_of(field).both_stages and values[0] == values[1]:
            values = values[:1]
        arguments += ["--" + field.name.replace("_", "-"), *map(_value_text, values)]
    flagged = {key: (flag, spec) for key, flag, spec, _ in _option_fields()}
    for key, _, _ in RunConfig.leaves():
        value = config.get(key)
        if key == "recipe" or key.split(".")[0] in _STAGES or value == base.get(key):
            continue
        if key not in flagged:
            arguments += ["--set", f"{key}={_value_text(value)}"]
            continue
        flag, spec = flagged[key]
        if spec.negative_flag:
            arguments.append(flag if value else spec.negative_flag)
        else:
            arguments += [flag, _value_text(value)]
    return arguments

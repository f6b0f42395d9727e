"""Named recipes: partial configurations shipped with the package, applied over the defaults.

Each recipe is a JSON file in `adambnn_tf/config/recipes/` with a `description` and the
`settings` it changes from `RunConfig()`:

- `quickstart`: the README's demo, and the defaults themselves;
- `fashion-mnist`: the best Fashion-MNIST run of `bench/RESULTS.md`;
- `official-imagenet`: exactly the official AdamBNN run (both steps of its `run.sh` and
  `train.py`).

!!! example
    ```python
    from adambnn_tf.config import recipe

    config = recipe("fashion-mnist").with_overrides({"training.seed": 1})
    ```
"""

from __future__ import annotations

import json
from importlib import resources

from adambnn_tf.config.fields import ConfigError
from adambnn_tf.config.schema import RunConfig

__all__ = ["DEFAULT_RECIPE", "describe_recipe", "recipe", "recipe_names"]

DEFAULT_RECIPE = "quickstart"


def _files():
    return resources.files("adambnn_tf.config") / "recipes"


def recipe_names() -> list[str]:
    """The names of the shipped recipes, sorted."""
    return sorted(
        entry.name[: -len(".json")] for entry in _files().iterdir() if entry.name.endswith(".json")
    )


def _read(name: str) -> dict:
    names = recipe_names()
    if name not in names:
        raise ConfigError(f"Unknown recipe {name!r}; the recipes are {names} (`adambnn recipes`).")
    return json.loads((_files() / f"{name}.json").read_text())


def describe_recipe(name: str) -> str:
    """The one-paragraph description of a recipe.

    # Raises
        ConfigError: for an unknown name (the message lists the recipes).
    """
    return _read(name)["description"]


def recipe(name: str = DEFAULT_RECIPE) -> RunConfig:
    """The resolved configuration of a named recipe: `RunConfig()` with its settings.

    # Arguments
        name: a name of `recipe_names()`.

    # Returns
        The `RunConfig` (its `recipe` field holds `name`).

    # Raises
        ConfigError: for an unknown name (the message lists the recipes).
    """
    settings = dict(_read(name)["settings"])
    settings["recipe"] = name
    return RunConfig.from_json(settings)

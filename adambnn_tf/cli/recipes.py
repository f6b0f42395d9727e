"""`adambnn recipes`: the named recipes, and the resolved configuration of one.

!!! example
    ```bash
    adambnn recipes                              # names and descriptions
    adambnn recipes --show official-imagenet     # the resolved configuration, as JSON
    adambnn train --recipe official-imagenet --data-dir ~/tensorflow_datasets
    ```
"""

from __future__ import annotations

import argparse
import json
import textwrap

from adambnn_tf.config import DEFAULT_RECIPE, describe_recipe, recipe, recipe_names

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the `recipes` subcommand to `subparsers` and returns its parser (the protocol
    of `adambnn_tf.cli`)."""
    parser = subparsers.add_parser(
        "recipes",
        help="list the named training recipes, or show one's configuration",
        description="The recipes `adambnn train --recipe NAME` starts from. --show prints the "
        "resolved configuration as JSON: a file `adambnn train --config` reads, with every key "
        "`--set KEY=VALUE` can change.",
        allow_abbrev=False,
    )
    parser.add_argument("--show", metavar="NAME", choices=recipe_names(), help="a recipe to print")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Prints the recipes, or one recipe's configuration.

    # Returns
        0.
    """
    if args.show:
        print(json.dumps(recipe(args.show).to_json(), indent=2))
        return 0
    for name in recipe_names():
        default = " (default)" if name == DEFAULT_RECIPE else ""
        print(f"{name}{default}")
        print(textwrap.indent(textwrap.fill(describe_recipe(name), 92), "    "))
    return 0

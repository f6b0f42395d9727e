"""`--model NAME --weights NAME`: the commands that take a model file also take a zoo model
with registered pretrained weights, built in the configuration the weights were trained for.

!!! example
    ```bash
    adambnn evaluate --weights fashion_mnist
    adambnn export --weights fashion_mnist reactnet_a_compact.tflite
    ```
"""

from __future__ import annotations

import argparse
import inspect

from adambnn_tf.cli.errors import CommandError
from adambnn_tf.config import RunConfig
from adambnn_tf.config.choices import MODELS

__all__ = ["add_weights_options", "build_pretrained", "model_or_path"]


def add_weights_options(parser: argparse.ArgumentParser) -> None:
    """Adds `--model` and `--weights` (the alternative to the MODEL file argument).

    # Arguments
        parser: the subcommand's parser, whose MODEL argument is optional (`dest="model_file"`).
    """
    parser.add_argument(
        "--weights",
        metavar="NAME",
        help="use a zoo model with registered pretrained weights instead of a MODEL file, "
        "e.g. fashion_mnist (shipped with the package)",
    )
    parser.add_argument(
        "--model",
        choices=tuple(MODELS),
        help=f"the zoo model of --weights (default: {RunConfig().model.name})",
    )


def build_pretrained(model: str, weights: str):
    """Builds a zoo model with registered weights, in the configuration they were trained for.

    # Arguments
        model: a model name of `adambnn_tf.config.choices.MODELS`.
        weights: a registered weights name of that model, e.g. `"fashion_mnist"`.

    # Returns
        The `tf.keras.Model` with the weights loaded (probabilities out).

    # Raises
        CommandError: when no weights of that name are registered for the model (the
            message lists the registered names).
    """
    from adambnn_tf import zoo
    from adambnn_tf.zoo._registry import weights_named

    function_name, options = MODELS[model]
    entries = weights_named(model, weights)
    if not entries:
        raise CommandError(
            f"no pretrained weights named {weights!r} are registered for {model}",
            f"registered for {model}: {', '.join(zoo.registered_weights(model)) or 'none'}",
        )
    padding, entry = entries[0]
    builder = getattr(zoo, function_name)
    accepted = inspect.signature(builder).parameters
    arguments = {"padding": padding, **options, **entry.configuration}
    arguments = {name: value for name, value in arguments.items() if name in accepted}
    if "input_shape" in arguments:
        arguments["input_shape"] = tuple(arguments["input_shape"])
    import tensorflow as tf

    # get_file's "Downloading data from file://..." and progress bar would say a download
    # happens for the package's own file; with interactive logging off they go to the log.
    interactive = tf.keras.utils.is_interactive_logging_enabled()
    tf.keras.utils.disable_interactive_logging()
    try:
        return builder(weights=weights, **arguments)
    finally:
        if interactive:
            tf.keras.utils.enable_interactive_logging()


def model_or_path(args: argparse.Namespace):
    """The model a command works on: a built pretrained model or the MODEL file's path.

    # Arguments
        args: parsed arguments with `model_file`, `model` and `weights`.

    # Returns
        A `tf.keras.Model` (for `--weights`) or the path given as MODEL.

    # Raises
        CommandError: for both or neither of MODEL and `--weights`.
    """
    if args.weights and args.model_file:
        raise CommandError(
            f"give a MODEL file ({args.model_file}) or --weights {args.weights}, not both"
        )
    if args.model and not args.weights:
        raise CommandError(
            f"--model {args.model} names the zoo model of --weights",
            "add --weights NAME, or drop --model to use the MODEL file",
        )
    if args.weights:
        args.model = args.model or RunConfig().model.name
        return build_pretrained(args.model, args.weights)
    if not args.model_file:
        raise CommandError(
            "no model given", "give a MODEL file, or --weights NAME (e.g. --weights fashion_mnist)"
        )
    return args.model_file

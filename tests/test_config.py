"""The run configuration: one set of defaults, recipes, the CLI derived from it, JSON round trip."""

import json
import os

import pytest
import tensorflow as tf

from adambnn_tf.cli import build_parser, main
from adambnn_tf.cli.config_options import config_from_options, train_arguments
from adambnn_tf.config import ConfigError, RunConfig, recipe, recipe_names


def _from_cli(*flags: str) -> RunConfig:
    return config_from_options(build_parser().parse_args(["train", *flags]))


def test_every_setting_has_one_default():
    from_cli = _from_cli()
    from_python = RunConfig()
    assert from_cli == from_python == recipe("quickstart")
    # Every leaf is compared, not only the ones somebody thought of.
    assert len(from_cli.to_json()) == len(RunConfig().to_json()) > 5
    from_python.validate()


def test_official_imagenet_recipe_is_the_official_run():
    # The values of the official AdamBNN code (../shared/spec/adambnn-reactnet.md, section 3.1:
    # step1/ and step2/ run.sh and train.py), written here, not read from the recipe file.
    config = recipe("official-imagenet")
    model, data, training = config.model, config.data, config.training
    assert (model.name, model.width_multiplier) == ("reactnet_a", 1.0)
    assert model.padding == "pytorch"  # symmetric zero padding of the official convolutions
    assert model.initializer == "pytorch"  # no custom init: kaiming_uniform(a=sqrt(5))
    assert data.dataset == "imagenet2012" and data.batch_size == 256
    assert data.augment and data.imagenet_pipeline == "official" and data.lighting == 0.1
    assert data.train_examples == 0  # the whole training set
    assert (config.stage1.epochs, config.stage2.epochs) == (256, 256)
    assert config.stage1.learning_rate == config.stage2.learning_rate == 1.25e-3
    assert (config.stage1.weight_decay, config.stage2.weight_decay) == (5e-6, 0.0)
    assert training.scheme == "two-step" and training.optimizer == "adam"
    assert training.schedule == "epochwise"  # LambdaLR(1 - e/E) stepped once per epoch
    assert training.decay_parameters == "official"  # ndim == 4 or 'conv' in the name
    assert training.decay_form == "coupled"  # torch.optim.Adam(weight_decay=...)
    assert training.label_smoothing == 0.0  # CrossEntropyLabelSmooth is built but unused
    assert training.stage2_init == "best" and training.stage2_init_metric == "val_accuracy"
    assert config.distillation.teacher == "resnet34"  # torchvision resnet34(pretrained=True)
    assert config.distillation.stage2_teacher is None and config.distillation.teacher_epochs == 0
    assert config.tracking.validate_every == 1  # model_best.pth.tar needs every epoch's val


def test_official_recipe_builds_the_official_optimizer(tmp_path):
    from adambnn_tf.layers import RPReLU
    from adambnn_tf.optimizers import OfficialAdam
    from adambnn_tf.quantizers import RSign
    from adambnn_tf.schedules import EpochwiseLinearDecay
    from adambnn_tf.training import TwoStageTraining
    from adambnn_tf.zoo import ReActNetACompact

    def build(stage):
        return ReActNetACompact(
            input_shape=(28, 28, 1), num_classes=10, stage=stage, width_multiplier=0.125
        )

    config = recipe("official-imagenet").with_overrides({"output_dir": str(tmp_path)})
    # The named ResNet-34 teacher is not needed to build the optimizer.
    config = config.with_overrides({"distillation.teacher": "none"})
    training = TwoStageTraining(build, config)
    model = build(1)
    optimizer = training._optimizer(1, model, epochs=256, steps=5005)
    assert isinstance(optimizer.inner_optimizer, OfficialAdam)
    assert optimizer.decay_form == "coupled" and optimizer.weight_decay == 5e-6
    schedule = optimizer.inner_optimizer.learning_rate
    assert isinstance(schedule, EpochwiseLinearDecay)
    assert float(schedule(0)) == pytest.approx(1.25e-3 * 255 / 256)
    # The official group: every conv kernel (the real stem's too) and every learnable bias
    # (RSign thresholds, RPReLU shifts); not BatchNorm, PReLU slopes or the classifier.
    decayed = {id(variable) for variable in optimizer.decayed_variables(model.trainable_variables)}
    kernels = [layer.kernel for layer in model.layers if isinstance(layer, tf.keras.layers.Conv2D)]
    rsigns = [layer.input_quantizer for layer in model.layers if hasattr(layer, "input_quantizer")]
    rprelus = [layer for layer in model.layers if isinstance(layer, RPReLU)]
    shifts = [bias for layer in rprelus for bias in (layer.input_bias, layer.output_bias)]
    thresholds = [quantizer.threshold for quantizer in rsigns if isinstance(quantizer, RSign)]
    expected = {id(variable) for variable in [*kernels, *thresholds, *shifts]}
    assert len(kernels) == 13 and len(thresholds) == 12 and decayed == expected
    assert training._optimizer(2, build(2), epochs=256, steps=5005).weight_decay == 0.0


def test_fashion_mnist_recipe_is_the_best_recorded_run():
    config = recipe("fashion-mnist")
    assert (config.stage1.epochs, config.stage2.epochs) == (10, 5)
    assert (config.stage1.learning_rate, config.stage2.learning_rate) == (2e-3, 3e-3)
    assert config.data.batch_size == 64 and not config.data.augment
    assert config.training.label_smoothing == 0.1 and config.data.train_examples == 0
    assert (config.tracking.track_every, config.tracking.validate_every) == (10, 100)
    assert config.stage1.weight_decay == 5e-6  # unchanged defaults stay
    config.validate()


def test_cli_flags_reach_the_configuration():
    config = _from_cli(
        "--recipe", "fashion-mnist",
        "--epochs", "3", "2",
        "--learning-rate", "1e-3",
        "--weight-decay", "1e-5", "0",
        "--no-augment",
        "--quiet",
        "--decay-parameters", "official",
        "--initializer", "pytorch",
        "--stage2-init", "best",
        "--validate-every", "1",
        "--set", "training.decay_form=decoupled",
        "--set", "stage2.learning_rate=5e-4",
    )  # fmt: skip
    assert (config.stage1.epochs, config.stage2.epochs) == (3, 2)
    # --set comes after the flags: stage 2's rate is the --set one.
    assert (config.stage1.learning_rate, config.stage2.learning_rate) == (1e-3, 5e-4)
    assert (config.stage1.weight_decay, config.stage2.weight_decay) == (1e-5, 0.0)
    assert not config.data.augment and not config.output.progress
    assert config.training.decay_parameters == "official" and config.model.initializer == "pytorch"
    assert config.training.decay_form == "decoupled" and config.training.stage2_init == "best"
    assert config.recipe == "fashion-mnist" and config.data.batch_size == 64  # from the recipe
    per_stage = _from_cli("--learning-rate", "2e-3", "1e-3")
    assert (per_stage.stage1.learning_rate, per_stage.stage2.learning_rate) == (2e-3, 1e-3)


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("fashion-mnist", {}),
        # A stage flag with one value for both stages, a switch-off flag, a plain flag.
        ("fashion-mnist", {"stage1.epochs": 12, "stage2.epochs": 10, "stage1.learning_rate": 8e-3,
                           "stage2.learning_rate": 8e-3, "data.validation_examples": 5000,
                           "output.progress": False, "output_dir": "runs/a b"}),
        # Stage values that differ, a switch turned on, the float twin, a field without flag.
        ("quickstart", {"training.scheme": "one-step", "stage2.epochs": 22, "data.augment": True,
                        "data.random_crop": False, "model.binary": False,
                        "stage1.weight_decay": 1e-5, "tracking.track_every": 3}),
        ("official-imagenet", {"distillation.teacher": None, "data.data_dir": "/data/imagenet"}),
    ],
)  # fmt: skip
def test_train_arguments_give_the_configuration_back(name, overrides):
    config = recipe(name).with_overrides(overrides)
    config.validate()
    arguments = train_arguments(config)
    assert _from_cli(*arguments) == config
    # Only what differs from the recipe is stated.
    assert len(train_arguments(recipe(name))) == 2


def test_a_switch_has_an_on_and_an_off_flag(capsys):
    assert not recipe("fashion-mnist").data.augment
    assert _from_cli("--recipe", "fashion-mnist", "--augment").data.augment
    config = recipe("fashion-mnist").with_overrides({"data.augment": True, "model.binary": False})
    assert train_arguments(config) == ["--recipe", "fashion-mnist", "--float-twin", "--augment"]
    with pytest.raises(SystemExit):
        _from_cli("--augment", "--no-augment")
    assert "not allowed with argument --augment" in capsys.readouterr().err


def test_run_json_round_trips_and_reruns_the_same_configuration(tmp_path):
    config = _from_cli("--recipe", "fashion-mnist", "--seed", "4", "--set", "data.lighting=0.2")
    assert RunConfig.from_json(json.loads(json.dumps(config.to_json()))) == config
    path = tmp_path / "run.json"
    path.write_text(json.dumps(config.to_json()))
    assert RunConfig.load(path) == config
    assert _from_cli("--config", str(path)) == config
    assert _from_cli("--config", str(path), "--seed", "5").training.seed == 5


def test_identity_compares_resolved_paths_and_ignores_display_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative = RunConfig().with_overrides({"data.data_dir": "data/", "output.progress": False})
    absolute = RunConfig().with_overrides({"data.data_dir": str(tmp_path / "data")})
    assert relative.identity() == absolute.identity()
    assert "output.progress" not in relative.identity()
    assert RunConfig().with_overrides({"training.seed": 1}).identity() != absolute.identity()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--set", "stage1.lr=1e-3"], "Unknown setting 'stage1.lr'; the settings are: output_dir"),
        (["--set", "stage1.epochs=1.5"], "stage1.epochs: '1.5' is not a int"),
        (["--set", "training.schedule=cosine"], "not one of ['stepwise', 'epochwise']"),
        (["--set", "training.seed"], "write KEY=VALUE"),
        (["--learning-rate", "1", "2", "3"], "takes one value for both stages or two"),
        (["--learning-rate", "inf"], "stage1.learning_rate must be a finite number"),
        (["--batch-size", "0"], "data.batch_size must be positive"),
        (["--width-multiplier", "0"], "model.width_multiplier must be positive"),
        (["--recipe", "quickstart", "--config", "run.json"], "give one of them"),
        (["--label-smoothing", "0.1", "--teacher-epochs", "2"], "distillation replaces"),
        (["--stage2-teacher", "stage1", "--scheme", "one-step"], "one-step scheme skips"),
    ],
)
def test_bad_input_exits_2_naming_the_key_and_writes_nothing(tmp_path, capsys, flags, message):
    output_dir = tmp_path / "run"
    assert main(["train", "--output-dir", str(output_dir), *flags]) == 2
    error = capsys.readouterr().err
    assert error.startswith("adambnn train: error: ") and message in error
    assert not output_dir.exists()


def test_unknown_recipe_and_choice_are_refused_by_the_parser(capsys):
    for flags in (["--recipe", "imagenet"], ["--model", "resnet50"]):
        with pytest.raises(SystemExit) as error:
            main(["train", *flags])
        assert error.value.code == 2
        assert "invalid choice" in capsys.readouterr().err


def test_no_abbreviations(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--epoch", "1", "1"])
    assert "unrecognized arguments: --epoch" in capsys.readouterr().err


def test_recipes_command_lists_and_shows(capsys):
    assert main(["recipes"]) == 0
    listed = capsys.readouterr().out
    for name in recipe_names():
        assert f"{name}" in listed
    assert "quickstart (default)" in listed
    assert main(["recipes", "--show", "official-imagenet"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert RunConfig.from_json(shown) == recipe("official-imagenet")


def test_unreadable_configuration_file_is_named(tmp_path):
    broken = tmp_path / "run.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match=f"Cannot read the configuration {str(broken)!r}"):
        RunConfig.load(broken)
    with pytest.raises(ConfigError, match="Unknown key 'seed'; the top level has"):
        RunConfig.from_json({"seed": 3})
    assert not os.path.exists(tmp_path / "runs")

"""`bench/profile_step.py` against a real profile: TensorFlow's trace format and op names.

The script reads the profiler's `*.xplane.pb` with TensorFlow's generated XSpace module, which
is not a public API, and attributes ops by the names TensorFlow, Grappler and the oneDNN
kernels give them. These tests profile two training steps of a tiny binary network and fail
when the module moves, the trace layout changes, or op names stop mapping to their families.
"""

import sys
from pathlib import Path

import larq as lq
import pytest
import tensorflow as tf

from adambnn_tf.layers import RPReLU
from adambnn_tf.optimizers import OfficialAdam, StageAwareOptimizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import profile_step  # noqa: E402  (a script beside its siblings in bench/)


def _tiny_bnn() -> tf.keras.Model:
    """Stem, then two binary convolutions with BatchNorm, residual and RPReLU: stage 2."""
    inputs = tf.keras.Input((8, 8, 3))
    x = tf.keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    for index in (1, 2):
        y = lq.layers.QuantConv2D(
            8,
            3,
            padding="same",
            pad_values=1.0,
            input_quantizer="rsign",
            kernel_quantizer="scaled_weight_sign",
            kernel_constraint="weight_clip",
            use_bias=False,
            name=f"block{index}_conv",
        )(x)
        y = tf.keras.layers.BatchNormalization(name=f"block{index}_bn")(y)
        x = tf.keras.layers.Add(name=f"block{index}_add")([x, y])
        x = RPReLU(name=f"block{index}_rprelu")(x)
    x = tf.keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = tf.keras.layers.Dense(3, name="logits")(x)
    model = tf.keras.Model(inputs, outputs, name="tiny_bnn")
    model.compile(
        StageAwareOptimizer(OfficialAdam(1e-3), stage=2),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    tf.keras.utils.set_random_seed(0)
    model = _tiny_bnn()
    images = tf.random.normal((16, 8, 8, 3))
    labels = tf.random.uniform((16,), maxval=3, dtype=tf.int64)
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8).repeat()
    logdir = str(tmp_path_factory.mktemp("profile"))
    result = profile_step.profile_fit(model, data, steps=2, logdir=logdir)
    events = profile_step.host_op_events(profile_step.read_xspace(logdir))
    return model, data, result, events


def test_the_trace_has_convolution_events_with_their_layer_names_and_durations(profiled):
    _, _, _, events = profiled
    by_name = {}
    for event in events:
        by_name.setdefault(event.name, []).append(event)
    expected = {
        "tiny_bnn/block1_conv/QuantConv2D": "Conv2D",
        "gradient_tape/tiny_bnn/block2_conv/QuantConv2D/Conv2DBackpropInput": "BackpropInput",
        "gradient_tape/tiny_bnn/block1_conv/QuantConv2D/Conv2DBackpropFilter": "BackpropFilter",
    }
    for name, op_type in expected.items():
        assert name in by_name, f"{name} not among {sorted(by_name)[:20]} ..."
        assert len(by_name[name]) == 2  # one per profiled step
        assert all(op_type in event.type for event in by_name[name])
        assert all(event.duration_ps > 0 for event in by_name[name])


def test_every_family_of_a_binary_network_gets_time(profiled):
    _, _, result, _ = profiled
    families = result["families_ms"]
    for key in (
        "conv_forward",
        "conv_backprop_input",
        "conv_backprop_filter",
        "act_binarizer_forward",
        "act_binarizer_gradient",
        "weight_binarizer_forward",
        "weight_scale",
        "weight_binarizer_gradient",
        "rprelu",
        "batchnorm",
        "pad_pool_add_concat",
        "loss",
        "gradient_sums",
        "optimizer",
    ):
        assert families[key] > 0, key
    assert families["ff_tracking"] == 0
    assert result["op_ms"] == pytest.approx(sum(families.values()), abs=0.01)
    # Ops left over: only the classifier (a Dense layer) and tiny bookkeeping.
    assert families["other"] < 0.2 * result["op_ms"]
    assert 0 < result["busy_ms"] <= result["op_ms"] + 1e-6
    assert result["nested_events"] == 0


def test_written_out_gradients_go_to_the_layer_whose_tensors_they_read(profiled):
    model, data, _, _ = profiled
    graph = profile_step.training_graph(model.train_function, data)
    rules = profile_step.FamilyRules(model, graph)
    families = {}
    for op in graph.get_operations():
        if op.name.startswith("StageAwareOptimizer/gradients/") and op.type != "Const":
            families.setdefault(op.type, set()).add(rules.family(op.name, op.type))
    # approx_sign: dy * relu(2 - 2|x|); the clipped STE: where(|w| <= 1, dy, 0); RPReLU's
    # written-out gradient: where(u > 0, ...), min(u, 0), sums over batch and space.
    assert families["Relu"] == {"act_binarizer_gradient"}
    assert families["Sub"] == {"act_binarizer_gradient"}
    assert families["LessEqual"] == {"weight_binarizer_gradient"}
    assert families["Abs"] == {"act_binarizer_gradient", "weight_binarizer_gradient"}
    assert families["Greater"] == {"rprelu"}
    assert families["Minimum"] == {"rprelu"}
    assert families["Sum"] == {"rprelu"}
    assert families["SelectV2"] == {"rprelu", "weight_binarizer_gradient"}
    assert families["AddN"] == {"gradient_sums"}

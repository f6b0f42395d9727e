"""Every Python example of README.md runs, as a user would paste it.

Each fenced `python` block runs in a fresh interpreter (its imports come first, as a user's
script would), in a folder holding what it reads. Examples that train or export full-size
models run whole in the slow tier; the fast tier runs them with the budget substitutions in
`EXAMPLES` (fewer epochs and steps), which exercise the same API calls.
"""

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


@dataclass(frozen=True)
class Example:
    """How a README block runs: after earlier blocks, with a prepared folder, scaled down."""

    starts_with: str  # the block's first line, so that a changed README is noticed
    after: tuple[int, ...] = ()  # indices of blocks whose names this one uses
    fast_substitutions: dict[str, str] = field(default_factory=dict)
    needs: str | None = None  # a file the block reads: "official_checkpoint"
    slow: bool = False  # too heavy for the fast tier even when scaled down


EXAMPLES = (
    Example("import adambnn_tf\nfrom adambnn_tf.zoo import ReActNetACompact"),
    Example("import adambnn_tf  # first"),
    Example(
        "import tensorflow as tf",
        fast_substitutions={
            "epochs=3": "epochs=1",
            "steps_per_epoch=train.steps_per_epoch": "steps_per_epoch=2",
            "validation_data=test.dataset": "validation_data=test.dataset.take(2)",
        },
    ),
    Example("from adambnn_tf.zoo import ReActNetA", needs="official_checkpoint", slow=True),
    Example("from adambnn_tf.export import export", after=(3,), slow=True),
)


def _python_blocks() -> list[str]:
    with open(README) as file:
        return re.findall(r"^```python\n(.*?)^```", file.read(), flags=re.S | re.M)


def test_every_readme_example_is_covered():
    blocks = _python_blocks()
    assert len(blocks) == len(EXAMPLES), "a README example was added or removed: update EXAMPLES"
    for block, example in zip(blocks, EXAMPLES, strict=True):
        assert block.startswith(example.starts_with), block.splitlines()[0]


def _write_official_checkpoint(folder: str) -> None:
    torch = pytest.importorskip("torch")
    sys.path.insert(0, os.path.dirname(__file__))
    from torch_reactnet import ReActNetA, randomize_

    model = randomize_(ReActNetA(num_classes=1000, stage=2))
    state = {f"module.{key}": value for key, value in model.state_dict().items()}
    torch.save({"state_dict": state}, os.path.join(folder, "model_best.pth.tar"))


def _run(index: int, tmp_path, fast: bool) -> subprocess.CompletedProcess:
    blocks = _python_blocks()
    example = EXAMPLES[index]
    code = "\n".join(blocks[i] for i in (*example.after, index))
    if fast:
        for old, new in example.fast_substitutions.items():
            assert old in code, f"README example {index + 1} no longer contains {old!r}"
            code = code.replace(old, new)
    if example.needs == "official_checkpoint":
        _write_official_checkpoint(str(tmp_path))
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    environment.pop("TF_USE_LEGACY_KERAS", None)  # as a user's fresh shell has it
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=1800,
    )


@pytest.mark.needs_fashion_mnist
@pytest.mark.parametrize(
    "index", [i for i, example in enumerate(EXAMPLES) if not example.slow], ids=lambda i: str(i + 1)
)
def test_readme_example_runs(index, tmp_path):
    result = _run(index, tmp_path, fast=True)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize(
    "index", [i for i, example in enumerate(EXAMPLES) if example.slow], ids=lambda i: str(i + 1)
)
def test_readme_example_runs_whole(index, tmp_path):
    result = _run(index, tmp_path, fast=False)
    assert result.returncode == 0, result.stderr[-3000:]

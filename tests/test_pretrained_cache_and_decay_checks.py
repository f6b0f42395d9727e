"""Issue 19: registered weight files stay inside the cache; weight decay must be finite."""

import math

import pytest

from adambnn_tf.optimizers import StageAwareOptimizer
from adambnn_tf.zoo import _pretrained
from adambnn_tf.zoo._pretrained import (
    PRETRAINED_WEIGHTS,
    PretrainedWeights,
    download_weights,
    register_pretrained_weights,
)

DIGEST = "0" * 64


@pytest.fixture
def registry():
    saved = dict(PRETRAINED_WEIGHTS)
    yield PRETRAINED_WEIGHTS
    PRETRAINED_WEIGHTS.clear()
    PRETRAINED_WEIGHTS.update(saved)


@pytest.mark.parametrize(
    "file_name", ["../../victim.h5", "sub/w.h5", "/tmp/w.h5", "..", ".", "", "a\\b.h5"]
)
def test_file_names_that_leave_the_cache_are_refused(registry, tmp_path, file_name):
    with pytest.raises(ValueError, match="file_name"):
        register_pretrained_weights(
            "reactnet18",
            padding="lce",
            include_top=False,
            url=(tmp_path / "w.h5").as_uri(),
            sha256=DIGEST,
            file_name=file_name,
        )
    with pytest.raises(ValueError, match="file_name"):
        PretrainedWeights("https://example.org/w.h5", DIGEST, file_name)  # a direct entry
    assert ("reactnet18", "imagenet", "lce", False) not in registry


def test_model_names_that_leave_the_cache_are_refused(registry):
    with pytest.raises(ValueError, match="model"):
        register_pretrained_weights(
            "../..", padding="lce", include_top=False, url="x", sha256=DIGEST, file_name="w.h5"
        )


def test_a_hash_mismatch_never_deletes_a_file_outside_the_cache(registry, tmp_path):
    cache = tmp_path / "cache"
    victim = cache / "larq" / "victim.h5"  # what "../victim.h5" would reach from the cache
    victim.parent.mkdir(parents=True)
    victim.write_bytes(b"precious")
    source = tmp_path / "w.h5"
    source.write_bytes(b"published weights")
    entry = PretrainedWeights(source.as_uri(), DIGEST, "w.h5")
    object.__setattr__(entry, "file_name", "../../victim.h5")  # an entry altered after checks
    registry[("reactnet18", "imagenet", "lce", False)] = entry
    with pytest.raises(ValueError, match="file_name"):
        download_weights("reactnet18", padding="lce", include_top=False, cache_dir=str(cache))
    assert victim.read_bytes() == b"precious"

    # A well-named file with the wrong hash is removed from the cache, and only there.
    registry[("reactnet18", "imagenet", "lce", False)] = PretrainedWeights(
        source.as_uri(), DIGEST, "w.h5"
    )
    with pytest.raises(ValueError, match="does not have the registered SHA-256"):
        download_weights("reactnet18", padding="lce", include_top=False, cache_dir=str(cache))
    assert not (cache / "larq" / "models" / "reactnet18" / "w.h5").exists()
    assert victim.read_bytes() == b"precious" and source.exists()
    assert _pretrained.PRETRAINED_WEIGHTS is registry


@pytest.mark.parametrize("decay", [math.nan, math.inf, -math.inf])
def test_non_finite_weight_decay_is_refused(decay):
    with pytest.raises(ValueError, match="weight_decay must be a finite number"):
        StageAwareOptimizer(weight_decay=decay)


def test_negative_weight_decay_stays_allowed():
    # The paper's Table 1 uses -1e-7 (a weight decay that pushes weights apart).
    assert StageAwareOptimizer(weight_decay=-1e-7).weight_decay == -1e-7

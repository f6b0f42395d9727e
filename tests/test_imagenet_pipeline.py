"""The official AdamBNN ImageNet preprocessing: its pieces, and `load_dataset` on a small
generated image folder."""

import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf import data
from adambnn_tf.config.choices import IMAGENET_PIPELINES
from adambnn_tf.data import imagenet_pipeline as official

MEAN = np.array(official.IMAGENET_MEAN, np.float32)
STD = np.array(official.IMAGENET_STD, np.float32)
EIGVAL = np.array(official.PCA_EIGVAL)
EIGVEC = np.array(official.PCA_EIGVEC)
GREY_LEVEL = 1 / 255 / STD.min()  # one grey level after normalization, at most


def _pattern(height: int, width: int) -> np.ndarray:
    """A deterministic image with different values along rows, columns and channels."""
    rows, columns, channels = np.meshgrid(
        np.arange(height), np.arange(width), np.arange(3), indexing="ij"
    )
    return ((3 * rows + 5 * columns + 80 * channels) % 256).astype(np.uint8)


def _normalize(pixels) -> np.ndarray:
    return (np.asarray(pixels, np.float32) / 255 - MEAN) / STD


def _write(path, pixels: np.ndarray) -> None:
    encode = tf.io.encode_png if path.suffix == ".png" else tf.io.encode_jpeg
    tf.io.write_file(str(path), encode(pixels))


@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    """train: 4 random images of various sizes (PNG and JPEG), 2 classes; test: one pattern
    image per class, 256x300 (no resize needed) for `a` and 300x400 for `b`."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    train = {"a/0.png": (300, 400), "a/1.jpg": (500, 260), "b/0.png": (260, 500)}
    train["b/1.jpg"] = (400, 300)
    for name, (height, width) in train.items():
        (root / "train" / name).parent.mkdir(parents=True, exist_ok=True)
        _write(root / "train" / name, rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    for name, (height, width) in {"a/p.png": (256, 300), "b/p.png": (300, 400)}.items():
        (root / "test" / name).parent.mkdir(parents=True, exist_ok=True)
        _write(root / "test" / name, _pattern(height, width))
    return root


def _load(root, split, **kwargs):
    return data.load_dataset(
        "image_folder", split, data_dir=root, imagenet_pipeline="official", **kwargs
    )


def _by_label(loaded) -> dict[int, np.ndarray]:
    (images, labels), *_ = list(loaded.dataset)
    return {int(label): image for image, label in zip(images.numpy(), labels.numpy(), strict=True)}


def _seeds(count: int) -> tf.Tensor:
    return tf.stack(
        [tf.range(count, dtype=tf.int64), tf.fill([count], tf.constant(7, tf.int64))], 1
    )


def test_pipeline_names_come_from_the_config_choices():
    assert IMAGENET_PIPELINES == ("larq_zoo", "official")


def test_bad_pipeline_or_lighting_is_a_value_error(image_root):
    with pytest.raises(ValueError, match="'torchvision'.*larq_zoo, official"):
        data.load_dataset("image_folder", "test", batch_size=2, data_dir=image_root,
                          imagenet_pipeline="torchvision")  # fmt: skip
    with pytest.raises(ValueError, match="lighting"):
        _load(image_root, "train", batch_size=2, augment=True, lighting=-0.1)


def test_official_shapes_for_training_and_validation(image_root):
    train = _load(image_root, "train", batch_size=4, augment=True)
    test = _load(image_root, "test", batch_size=2)
    for loaded, count in ((train, 4), (test, 2)):
        assert loaded.input_shape == (224, 224, 3) and loaded.num_classes == 2
        images, labels = next(iter(loaded.dataset))
        assert images.shape == (count, 224, 224, 3) and images.dtype == tf.float32
        assert labels.dtype == tf.int64
    small = _load(image_root, "test", batch_size=2, image_size=64)
    assert small.input_shape == (64, 64, 3)
    assert next(iter(small.dataset))[0].shape == (2, 64, 64, 3)


def test_validation_is_the_center_crop_of_the_shorter_side_256_resize(image_root):
    images = _by_label(_load(image_root, "test", batch_size=2))
    # 256x300: the shorter side is already 256, so exactly the pixels of the center crop.
    np.testing.assert_allclose(images[0], _normalize(_pattern(256, 300)[16:240, 38:262]), atol=1e-6)
    # 300x400 -> 256x341 (int(256 * 400 / 300)); the margin of 117 rounds half to even: 58.
    pattern = _pattern(300, 400)
    resized = tf.image.resize(pattern, (256, 341), method="bilinear", antialias=True)
    resized = np.clip(np.round(resized.numpy()), 0, 255).astype(np.uint8)
    np.testing.assert_allclose(images[1], _normalize(resized[16:240, 58:282]), atol=1e-6)
    # torchvision resizes with PIL's bilinear filter, which rounds between its two passes.
    image_module = pytest.importorskip("PIL.Image")
    pil = image_module.fromarray(pattern).resize((341, 256), image_module.BILINEAR)
    pil_crop = _normalize(np.asarray(pil)[16:240, 58:282])
    assert np.abs(images[1] - pil_crop).max() <= GREY_LEVEL + 1e-5


def test_training_batches_are_seeded_per_epoch_and_resumable(image_root):
    def collect(seed, initial_epoch=0, batches=4):
        loaded = _load(
            image_root, "train", batch_size=2, augment=True, seed=seed, initial_epoch=initial_epoch
        )
        assert loaded.steps_per_epoch == 2
        return np.concatenate(
            [images for images, _ in loaded.dataset.take(batches).as_numpy_iterator()]
        )

    first = collect(seed=1)  # epochs 0 and 1
    np.testing.assert_array_equal(collect(seed=1), first)
    assert not np.allclose(first[:4], first[4:])
    np.testing.assert_array_equal(collect(seed=1, initial_epoch=1, batches=2), first[4:])
    assert not np.allclose(collect(seed=2, batches=2), first[:4])


# The largest share a crop with an aspect in [3/4, 4/3] can have: 260x346 of a 500x260 image.
@pytest.mark.parametrize(
    "height, width, largest_share", [(300, 400, 1.0), (500, 260, 0.69), (224, 224, 1.0)]
)
def test_crop_boxes_keep_the_area_share_and_aspect_ranges(height, width, largest_share):
    boxes = tf.function(
        lambda seeds: tf.map_fn(
            lambda seed: official.random_resized_crop_box(height, width, seed),
            seeds,
            fn_output_signature=tf.int32,
        )
    )(_seeds(2000)).numpy()
    top, left, crop_height, crop_width = boxes.T.astype(float)
    assert np.all((top >= 0) & (left >= 0) & (crop_height >= 1) & (crop_width >= 1))
    assert np.all((top + crop_height <= height) & (left + crop_width <= width))
    # The sides are rounded to whole pixels, so the bounds hold to half a pixel per side.
    area = height * width
    assert np.all((crop_height + 0.5) * (crop_width + 0.5) >= 0.08 * area)
    assert np.all((crop_width + 0.5) / (crop_height - 0.5) >= 3 / 4)
    assert np.all((crop_width - 0.5) / (crop_height + 0.5) <= 4 / 3)
    share, aspect = crop_height * crop_width / area, crop_width / crop_height
    assert (
        share.min() < 0.1
        and share.max() > 0.85 * largest_share
        and aspect.min() < 0.8
        and aspect.max() > 1.25
    )
    # The positions are uniform over the room the crop leaves, not centered.
    for offset, room in ((top, height - crop_height), (left, width - crop_width)):
        relative = offset[room > 0] / room[room > 0]
        assert abs(relative.mean() - 0.5) < 0.05 and relative.min() < 0.02 and relative.max() > 0.98


def test_crop_box_fallback_is_torchvision_center_crop():
    # No try fits a 10x1000 strip; the fallback is the centered crop at the nearest aspect.
    seed = tf.constant([3, 4])
    np.testing.assert_array_equal(
        official.random_resized_crop_box(10, 1000, seed), [0, 493, 10, 13]
    )
    np.testing.assert_array_equal(
        official.random_resized_crop_box(1000, 10, seed), [493, 0, 13, 10]
    )
    # With every try too large (a share above 1), an image within the aspect range is whole.
    box = official.random_resized_crop_box(300, 400, seed, scale=(1.5, 2.0))
    np.testing.assert_array_equal(box, [0, 0, 300, 400])


def test_lighting_offset_is_eigvec_times_alpha_eigval():
    alpha = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(
        official.lighting_offset(alpha), EIGVEC @ (alpha * EIGVAL), rtol=1e-6, atol=1e-7
    )


@pytest.mark.parametrize("alpha", [[10.0, 0.0, 0.0], [-10.0, 0.0, 0.0], [0.5, -3.0, 40.0]])
def test_lighting_clips_and_truncates_like_the_official_code(alpha):
    pixels = np.array([0, 1, 2, 100, 253, 254, 255], np.uint8)
    image = np.stack([pixels] * 3, axis=-1)[None]  # (1, 7, 3)
    result = official.apply_lighting(image, alpha).numpy()
    offset = EIGVEC @ (np.array(alpha) * EIGVAL)
    np.testing.assert_array_equal(result, np.clip(image + offset, 0, 255).astype(np.uint8))
    if alpha[0] == 10.0:  # offsets of about -1.23, -1.26, -1.27: down 2 levels, clipped at 0
        np.testing.assert_array_equal(result[0, :, 0], [0, 0, 0, 98, 251, 252, 253])
    if alpha[0] == -10.0:  # about +1.23: up 1 level (truncated), clipped at 255
        np.testing.assert_array_equal(result[0, :, 0], [1, 2, 3, 101, 254, 255, 255])


def _official_pieces(image, seed):
    """The training pipeline rebuilt from its public pieces: crop, resize, lighting alpha, flip."""
    crop_seed, lighting_seed, flip_seed = tf.random.experimental.stateless_split(seed, num=3)
    top, left, height, width = official.random_resized_crop_box(*image.shape[:2], crop_seed)
    crop = image[top : top + height, left : left + width]
    resized = tf.image.resize(crop, (224, 224), method="bilinear", antialias=True)
    resized = np.clip(np.round(resized.numpy()), 0, 255).astype(np.uint8)
    alpha = 0.1 * tf.random.stateless_normal([3], lighting_seed)
    flip = bool(
        tf.image.stateless_random_flip_left_right(tf.constant([[[0], [1]]]), flip_seed)[0, 0, 0]
    )
    return resized, alpha, flip


def test_training_pipeline_is_crop_resize_lighting_flip_normalize():
    image = np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    flips = set()
    for index in range(8):
        seed = tf.constant([index, 11], tf.int64)
        resized, alpha, flip = _official_pieces(image, seed)
        flips.add(flip)
        plain = official.official_train_preprocess(image, seed, lighting=0).numpy()
        lit = official.official_train_preprocess(image, seed).numpy()
        lit_pixels = official.apply_lighting(resized, alpha).numpy()
        # The flip changes only the orientation: the mirror image of the unflipped result.
        expect_plain, expect_lit = (x[:, ::-1] if flip else x for x in (resized, lit_pixels))
        np.testing.assert_allclose(plain, _normalize(expect_plain), atol=1e-6)
        np.testing.assert_allclose(lit, _normalize(expect_lit), atol=1e-6)
        # lighting=0.1 offsets are below one grey level: truncation lowers a channel by one
        # level where its offset is negative, and leaves it otherwise.
        steps = np.round((lit - plain) * STD * 255)
        assert set(np.unique(steps)) <= {-1.0, 0.0}
    assert flips == {True, False}


def test_lighting_zero_is_the_pipeline_without_lighting(image_root):
    def first_batch(**kwargs):
        loaded = _load(image_root, "train", batch_size=4, augment=True, seed=5, **kwargs)
        return next(iter(loaded.dataset))[0].numpy()

    off, on = first_batch(lighting=0), first_batch()
    assert not np.array_equal(off, on)
    # Same crops and flips: the lighting moves each pixel by at most one grey level.
    assert np.abs(off - on).max() <= GREY_LEVEL + 1e-5


def test_imagenet2012_bytes_through_mock_data():
    from tensorflow_datasets import testing as tfds_testing

    with tfds_testing.mock_data(num_examples=6):
        for augment in (True, False):
            loaded = data.load_dataset(
                "imagenet2012", "validation", batch_size=3, image_size=64, download=True,
                augment=augment, imagenet_pipeline="official",
            )  # fmt: skip
            images, _ = next(iter(loaded.dataset))
            assert images.shape == (3, 64, 64, 3) and loaded.input_shape == (64, 64, 3)
            # Pixels in [0, 255] standardized with ImageNet's mean and std: within [-2.2, 2.7].
            assert float(tf.reduce_min(images)) >= -2.2 and float(tf.reduce_max(images)) <= 2.7


@pytest.mark.parametrize("global_seed", [0, 5])
def test_streaming_order_does_not_depend_on_a_global_seed(image_root, global_seed):
    def order():
        loaded = _load(image_root, "train", batch_size=4, shuffle=True, seed=1)
        return next(iter(loaded.dataset))[1].numpy()

    without = order()
    # A global seed of 0 made TensorFlow test the per-epoch op seed tensor as a bool.
    tf.keras.utils.set_random_seed(global_seed)
    np.testing.assert_array_equal(order(), without)

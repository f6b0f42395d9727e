"""Atomic writes: the destination holds the old content or the new, and no temporary stays."""

import os
import stat

import pytest

from adambnn_tf._files import atomic_path, save_model_atomically, write_atomically


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_path_replaces_the_destination_with_a_readable_file(tmp_path):
    destination = tmp_path / "made" / "on" / "demand.png"
    with atomic_path(destination, suffix=".png") as temporary:
        # Writers that pick their format from the extension need the destination's suffix.
        assert temporary.endswith(".png")
        assert os.path.dirname(temporary) == str(destination.parent)
        assert not destination.exists()
        with open(temporary, "wb") as stream:
            stream.write(b"new")
    assert destination.read_bytes() == b"new"
    assert _mode(destination) == 0o644
    assert os.listdir(destination.parent) == ["demand.png"]


def test_atomic_path_leaves_the_destination_alone_when_the_writer_raises(tmp_path):
    destination = tmp_path / "state.json"
    destination.write_text("old")
    with pytest.raises(RuntimeError, match="writer failed"), atomic_path(destination) as temporary:
        with open(temporary, "w") as stream:
            stream.write("half")
        raise RuntimeError("writer failed")
    assert destination.read_text() == "old"
    assert os.listdir(tmp_path) == ["state.json"]


def test_save_model_atomically_writes_a_loadable_h5_and_no_temporary(tmp_path):
    import tensorflow as tf

    inputs = tf.keras.Input((3,))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(2)(inputs))
    save_model_atomically(model, tmp_path / "final_model.h5")
    assert os.listdir(tmp_path) == ["final_model.h5"]
    loaded = tf.keras.models.load_model(tmp_path / "final_model.h5", compile=False)
    for saved, read in zip(model.get_weights(), loaded.get_weights(), strict=True):
        assert (saved == read).all()


def test_write_atomically_writes_text_and_bytes_with_mode_644(tmp_path):
    write_atomically(tmp_path / "a.txt", "héllo")
    write_atomically(tmp_path / "b.bin", b"\0\1")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo"
    assert (tmp_path / "b.bin").read_bytes() == b"\0\1"
    assert {_mode(tmp_path / name) for name in ("a.txt", "b.bin")} == {0o644}
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.bin"]

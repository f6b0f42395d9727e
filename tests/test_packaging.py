"""The wheel installs zoo/ and callbacks/ under the one adambnn_tf namespace."""

import configparser
import os
import pathlib
import subprocess
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _declared_packages() -> dict[str, pathlib.Path]:
    """Maps every package named in setup.cfg to its source folder."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    package_dir = dict(
        line.split(" = ") for line in config["options"]["package_dir"].strip().splitlines()
    )
    packages = {}
    for name in config["options"]["packages"].split():
        mapped = max(
            (key for key in package_dir if name == key or name.startswith(key + ".")), key=len
        )
        relative = name[len(mapped) :].lstrip(".").replace(".", "/")
        packages[name] = ROOT / package_dir[mapped] / relative
    return packages


def test_every_source_package_is_declared():
    declared = {path.resolve() for path in _declared_packages().values()}
    for top in ("adambnn_tf", "zoo", "callbacks"):
        for init in (ROOT / top).rglob("__init__.py"):
            assert init.parent.resolve() in declared, f"{init.parent} is missing in setup.cfg"


def test_wheel_maps_zoo_and_callbacks_into_the_namespace(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("adambnn_tf-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in _declared_packages():
        assert f"{package.replace('.', '/')}/__init__.py" in names
    assert "zoo/__init__.py" not in names and "callbacks/__init__.py" not in names
    # The named recipes are package data: `adambnn recipes` reads them from the install.
    recipes = {name for name in names if name.startswith("adambnn_tf/config/recipes/")}
    assert {f"adambnn_tf/config/recipes/{r}.json" for r in _recipe_names()} == recipes
    # So are the shipped pretrained weights and their manifest (`weights="fashion_mnist"`).
    shipped = {
        f"adambnn_tf/zoo/weights/{path.name}"
        for path in (ROOT / "zoo" / "weights").glob("*")
        if path.suffix in (".h5", ".json")
    }
    assert shipped <= names

    # A plain (non-editable) install imports the namespace from the installed files.
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import adambnn_tf.zoo, adambnn_tf.callbacks as c; print(c.__file__)",
        ],
        env={**os.environ, "PYTHONPATH": str(target), "TF_CPP_MIN_LOG_LEVEL": "3"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip() == str(target / "adambnn_tf" / "callbacks" / "__init__.py")
    shown = subprocess.run(
        [sys.executable, "-c", "from adambnn_tf.config import recipe; print(recipe().recipe)"],
        env={**os.environ, "PYTHONPATH": str(target), "TF_CPP_MIN_LOG_LEVEL": "3"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == "quickstart"


def _recipe_names() -> list[str]:
    folder = os.path.join(os.path.dirname(__file__), os.pardir, "adambnn_tf", "config", "recipes")
    return sorted(name[: -len(".json")] for name in os.listdir(folder) if name.endswith(".json"))

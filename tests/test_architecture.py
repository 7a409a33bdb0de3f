"""The package's layers run one way: each module imports only from layers below its own (or from its own
package), so there is no circle and no arrow back up. docs/design.md draws the layers and says why."""

from __future__ import annotations

import ast

import pytest

from helpers import REPO

PACKAGE = REPO / "mnist_lightning"
# Top to bottom. A module may import from its own package and from any layer below its own, never from its own
# layer's other packages or from above.
LAYERS = [
    {"train", "eval", "predict", "export", "serve", "robustness", "lr_find"},  # entry points: compose and run
    {"user_errors"},  # how the entry points report a user's mistake
    {"training", "evaluation", "web", "realworld"},
    {"inference"},
    {"classifier"},  # the LightningModule, the model of record
    {"models", "data"},
    {"reporting", "morphology", "random_bits", "hydra_plugin"},  # used by all, use none of the above
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def part_of(module: str) -> str:
    """'mnist_lightning.inference.checkpoint' -> 'inference'."""
    return module.split(".")[1]


def imports() -> list[tuple[str, str, int, bool]]:
    """(importing module, imported module, line, inside a function) for every import of this package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text())
        nested = {id(node) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) for node in ast.walk(f)}
        for node in ast.walk(tree):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for name in names:
                if name.startswith("mnist_lightning.") and module.count(".") >= 1:
                    found.append((module, name, node.lineno, id(node) in nested))
    return found


def test_every_part_of_the_package_has_a_layer():
    parts = {path.stem if path.is_file() else path.name for path in PACKAGE.iterdir() if not path.name.startswith("_")}
    parts -= {"static", "conf"}  # not Python
    assert parts - {"__pycache__"} <= set(RANK), sorted(parts - set(RANK) - {"__pycache__"})


def upward(found: list[tuple[str, str, int, bool]]) -> list[str]:
    return [
        f"{module}:{line} imports {name}"
        for module, name, line, _ in found
        if part_of(module) != part_of(name) and RANK[part_of(name)] <= RANK[part_of(module)]
    ]


def test_imports_only_go_down():
    assert not upward(imports()), "\n".join(upward(imports()))


def test_the_rule_catches_an_import_up_or_sideways():
    """The check must be able to fail: inference importing training (up), training importing evaluation (a
    sibling) are caught; training importing inference (down) and inference importing itself are not."""
    planted = [
        ("mnist_lightning.inference.loading", "mnist_lightning.training.teachers", 1, False),
        ("mnist_lightning.training.teachers", "mnist_lightning.evaluation.scoring", 2, False),
        ("mnist_lightning.training.teachers", "mnist_lightning.inference.ensemble", 3, False),
        ("mnist_lightning.inference.ensemble", "mnist_lightning.inference.loading", 4, False),
    ]
    assert [line.split(" ")[0] for line in upward(planted)] == [
        "mnist_lightning.inference.loading:1",
        "mnist_lightning.training.teachers:2",
    ]
    assert len(imports()) > 50  # it reads the package's imports at all


def test_no_function_imports_the_package_to_dodge_a_circle():
    assert not [f"{module}:{line} {name}" for module, name, line, inside in imports() if inside]


def test_every_package_is_in_the_wheel():
    """pyproject.toml lists the packages a wheel carries; one left out installs without it (editable installs hide
    that: they read the source tree)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in PACKAGE.rglob("__init__.py")
        if "conf" not in init.parts
    }
    found.discard("mnist_lightning.hydra_plugin")  # installed as hydra_plugins.mnist_lightning (package-dir)
    assert found <= listed, sorted(found - listed)

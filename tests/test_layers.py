"""The layer rule, checked on the source: io <- faces <- data <- models <- training <- evaluation
<- inference <- external / cli; gui talks to dfd.inference only. Imports inside functions count."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["io", "faces", "data", "models", "training", "evaluation", "inference", "external", "cli"]
# leaf utilities with no dfd imports of their own layer-wise: anyone may use them
BASE = {"dfd", "dfd.errors", "dfd.paths", "dfd.metrics", "dfd.lite", "dfd.__main__"}
GUI_MAY_IMPORT = ("dfd.inference", "dfd.paths", "dfd.errors")


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if module in BASE or len(parts) < 2 or parts[0] != "dfd":
        return None
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from dfd import training` names the module dfd.training
            names = [f"{node.module}.{a.name}" for a in node.names] if node.module == "dfd" else [node.module]
            for name in names:
                yield name, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def test_every_dfd_layer_is_known():
    found = {p.relative_to(ROOT / "dfd").parts[0] for p in (ROOT / "dfd").rglob("*.py")}
    loose = {name.removesuffix(".py") for name in found if name.endswith(".py")}
    assert {f"dfd.{name}" for name in loose} <= BASE | {"dfd.__init__"} | {f"dfd.{n}" for n in LAYERS}
    assert {name for name in found if not name.endswith(".py")} <= set(LAYERS) | {"__pycache__"}


def test_base_utilities_import_no_layer():
    for name in BASE - {"dfd", "dfd.__main__"}:
        path = ROOT / (name.replace(".", "/") + ".py")
        layered = [t for t, _ in _imports(path) if _layer(t) is not None]
        assert not layered, f"{name} imports {layered}"


def test_no_import_runs_upward():
    upward = []
    for path in (ROOT / "dfd").rglob("*.py"):
        me = _layer(_module(path))
        for target, line in _imports(path):
            there = _layer(target)
            if me is not None and there is not None and there > me:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not upward, "\n".join(upward)


def test_relative_imports_are_not_used_inside_dfd():
    # absolute imports keep the layer of every import visible to this test and to readers
    for path in (ROOT / "dfd").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level], path


def test_gui_talks_to_the_inference_api_only():
    wrong = []
    for path in (ROOT / "gui").rglob("*.py"):
        for target, line in _imports(path):
            if target.startswith("dfd") and not target.startswith(GUI_MAY_IMPORT):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)

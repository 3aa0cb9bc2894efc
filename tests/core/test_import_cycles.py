"""No import cycle among Carnet's modules at load time (issue 13): the graph is read by
tools/imports.py, which `python tools/imports.py` prints in full."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPOSITORY = Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    name = "carnet_import_graph"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPOSITORY / "tools" / "imports.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclass resolves annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_no_module_level_import_cycle() -> None:
    tool = _tool()
    found = tool.imports(REPOSITORY / "src")
    assert found, "the graph reads the modules of src/carnet"
    assert tool.cycles(tool.graph(found, with_functions=False)) == []


def _package(root: Path, modules: dict[str, str]) -> Path:
    for name, text in {"__init__": "", **modules}.items():
        (root / "carnet").mkdir(parents=True, exist_ok=True)
        (root / "carnet" / f"{name}.py").write_text(text, encoding="utf-8")
    return root


def test_the_check_sees_a_cycle(tmp_path: Path) -> None:
    """The test above can fail: a loop of module-level imports is one cycle."""
    tool = _tool()
    src = _package(
        tmp_path,
        {"a": "from carnet import b\n", "b": "from carnet.c import X\n", "c": "import carnet.a\n"},
    )
    assert tool.cycles(tool.graph(tool.imports(src), with_functions=False)) == [
        ["carnet.a", "carnet.b", "carnet.c"]
    ]


def test_imports_in_functions_and_for_type_checking(tmp_path: Path) -> None:
    """An import inside a function closes a cycle only when those count; a TYPE_CHECKING one never."""
    tool = _tool()
    src = _package(
        tmp_path,
        {
            "a": "from carnet import b\n",
            "b": "def later():\n    from carnet import a\n",
            "c": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from carnet import d\n",
            "d": "from . import c\n",
        },
    )
    found = tool.imports(src)
    assert tool.cycles(tool.graph(found, with_functions=False)) == []
    assert tool.cycles(tool.graph(found, with_functions=True)) == [["carnet.a", "carnet.b"]]
    assert tool.function_level_statements(found) == 1

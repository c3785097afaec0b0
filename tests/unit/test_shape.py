"""The size limits of issue 10 hold: no module of ``ksi/`` over 400 lines, no class over 250
(a module or class that outgrows them is split along its seams, as ``ksi/rendezvous/`` was)."""

from __future__ import annotations

import ast
from pathlib import Path

import ksi

ROOT = Path(ksi.__file__).parent
MODULE_LINES = 400
CLASS_LINES = 250


def sizes() -> tuple[list[str], list[str]]:
    modules, classes = [], []
    for path in sorted(ROOT.rglob("*.py")):
        text = path.read_text()
        name = path.relative_to(ROOT.parent)
        if text.count("\n") > MODULE_LINES:
            modules.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > CLASS_LINES:
                    classes.append(f"{name}:{node.name}: {lines} lines")
    return modules, classes


def test_no_module_over_400_lines_and_no_class_over_250():
    modules, classes = sizes()
    assert not modules, f"modules over {MODULE_LINES} lines: {modules}"
    assert not classes, f"classes over {CLASS_LINES} lines: {classes}"

"""The blot package stays readable: no function in exo_vision/blot over 80 lines of code (docstring aside)."""

from __future__ import annotations

import ast
from pathlib import Path

import exo_vision.blot

BLOT = Path(exo_vision.blot.__file__).resolve().parent
MAX_LINES = 80


def code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef, source: list[str]) -> int:
    """Lines of a function that hold code: blank lines, comment lines and its docstring not counted."""
    doc: set[int] = set()
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        doc = set(range(first.lineno, first.end_lineno + 1))
    return sum(
        1
        for i in range(node.lineno, node.end_lineno + 1)
        if i not in doc and source[i - 1].strip() and not source[i - 1].strip().startswith("#")
    )


def long_functions(folder: Path, limit: int) -> list[str]:
    out = []
    for path in sorted(folder.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and code_lines(node, lines) > limit:
                out.append(f"{path.relative_to(folder)}:{node.lineno} {node.name} ({code_lines(node, lines)} lines)")
    return out


def test_the_counter_counts_code_only():
    source = 'def f(x):\n    """Doc.\n\n    More.\n    """\n    # a comment\n\n    y = x\n    return y\n'
    node = ast.parse(source).body[0]
    assert code_lines(node, source.splitlines()) == 3


def test_no_blot_function_over_80_lines_of_code():
    assert long_functions(BLOT, MAX_LINES) == []


def test_public_api_is_importable_from_the_package():
    for name in exo_vision.blot.__all__:
        assert getattr(exo_vision.blot, name) is not None, name
    from exo_vision.blot import BlotParameters, quantify_blot  # noqa: F401

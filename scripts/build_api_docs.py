"""Write docs/api/<package>.md from the numpydoc docstrings of exo_vision's public API.

One page per package: the package docstring, then every name it exports (``__all__``) and every public
function and class of its modules, each with its signature and docstring. Run from the repository root:

    .venv/bin/python scripts/build_api_docs.py

The GUI package (``plugins``) is documented from its source without importing napari.
"""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "exo_vision"
OUT = ROOT / "docs" / "api"


def _public_defs(path: Path) -> list[tuple[str, str, str]]:
    """(kind, signature, docstring) of each public top-level function and class of a module, from its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            doc = ast.get_docstring(node) or ""
            if isinstance(node, ast.FunctionDef):
                args = ast.unparse(node.args)
                returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
                signature = f"{node.name}({args}){returns}"
                kind = "function"
            else:
                signature = node.name
                kind = "class"
            out.append((kind, signature, doc))
    return out


def _module_doc(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""


def _page(package: Path) -> str:
    name = f"exo_vision.{package.name}"
    lines = [f"# `{name}`", "", inspect.cleandoc(_module_doc(package / "__init__.py")), ""]
    for module in sorted(package.rglob("*.py")):
        if module.name == "__init__.py" and module.parent == package:
            continue
        dotted = ".".join(module.relative_to(ROOT).with_suffix("").parts)
        dotted = dotted.removesuffix(".__init__")
        defs = _public_defs(module)
        doc = _module_doc(module)
        if not defs and not doc:
            continue
        lines += [f"## `{dotted}`", "", inspect.cleandoc(doc), ""]
        for kind, signature, docstring in defs:
            lines += [f"### {kind} `{signature}`", "", inspect.cleandoc(docstring) or "(no docstring)", ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    """Write one page per package and an index; print what was written."""
    OUT.mkdir(parents=True, exist_ok=True)
    packages = sorted(p for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    index = ["# API reference", "", "Built from the docstrings by `scripts/build_api_docs.py`.", ""]
    top = [p for p in sorted(PACKAGE.glob("*.py")) if p.name != "__init__.py"]
    for package in packages:
        (OUT / f"{package.name}.md").write_text(_page(package), encoding="utf-8")
        summary = inspect.cleandoc(_module_doc(package / "__init__.py")).split("\n")[0]
        index.append(f"- [`exo_vision.{package.name}`]({package.name}.md): {summary}")
    for module in top:
        page = [f"# `exo_vision.{module.stem}`", "", inspect.cleandoc(_module_doc(module)), ""]
        for kind, signature, docstring in _public_defs(module):
            page += [f"### {kind} `{signature}`", "", inspect.cleandoc(docstring) or "(no docstring)", ""]
        (OUT / f"{module.stem}.md").write_text("\n".join(page).rstrip() + "\n", encoding="utf-8")
        summary = inspect.cleandoc(_module_doc(module)).split("\n")[0]
        index.append(f"- [`exo_vision.{module.stem}`]({module.stem}.md): {summary}")
    (OUT / "README.md").write_text("\n".join(index) + "\n", encoding="utf-8")
    print(f"wrote {len(packages) + len(top) + 1} pages to {OUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

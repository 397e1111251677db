"""Write a notebook from a list of cells (markdown strings start with '#md\\n').

Used to author the numbered notebooks so their JSON stays small, output-free and reviewable:
    from nbtools import write_notebook
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat


def write_notebook(path: str | Path, cells: list[str], parameters: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    out = []
    for i, src in enumerate(cells):
        if src.startswith("#md\n"):
            out.append(nbformat.v4.new_markdown_cell(src[4:].strip()))
        else:
            out.append(nbformat.v4.new_code_cell(src.strip()))
        if i == 0:
            par = nbformat.v4.new_code_cell(parameters.strip())
            par.metadata["tags"] = ["parameters"]
            out.append(par)
    nb.cells = out
    for n, cell in enumerate(nb.cells):
        cell["id"] = f"c{n:02d}"
    nbformat.validate(nb)
    Path(path).write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit("import write_notebook from this module")

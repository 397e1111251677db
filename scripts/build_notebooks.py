"""Write the numbered notebooks from their sources: ``make notebooks`` (``--check``: fail if a
committed notebook differs from what its source gives, as ``make test`` does).

Each ``notebooks/sources/*.py`` defines ``notebooks() -> {file name: (cells, parameters)}``;
a cell is a code string, or markdown when it starts with ``#md``. Sources are data, run here
with :mod:`runpy`, so they import nothing from this folder. The notebooks carry no outputs.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "notebooks" / "sources"


def render(cells: list[str], parameters: str) -> str:
    """The notebook's JSON text: cells in order, the papermill ``parameters`` cell second."""
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
    return nbformat.writes(nb) + "\n"


def generated(sources: Path = SOURCES) -> dict[str, str]:
    """{notebook file name: JSON text} for every source in ``sources``."""
    out: dict[str, str] = {}
    for src in sorted(sources.glob("*.py")):
        books = runpy.run_path(str(src))["notebooks"]()
        for name, (cells, parameters) in books.items():
            if name in out:
                raise SystemExit(f"{src.name}: notebook {name} is also written by another source")
            out[name] = render(cells, parameters)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on a difference")
    args = ap.parse_args(argv)
    stale = []
    for name, text in generated().items():
        path = ROOT / "notebooks" / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote notebooks/{name}")
    if stale:
        print("out of date with notebooks/sources/ (run `make notebooks`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

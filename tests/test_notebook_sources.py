"""The committed notebooks are exactly what their sources in notebooks/sources/ write, with no outputs."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_committed_notebooks_match_their_sources():
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_notebooks.py"), "--check"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_every_numbered_notebook_has_a_source_and_no_outputs():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from build_notebooks import generated
    finally:
        sys.path.pop(0)
    written = set(generated())
    committed = {p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert committed == written
    for name in committed:
        nb = json.loads((ROOT / "notebooks" / name).read_text(encoding="utf-8"))
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code), name
        assert any("parameters" in c["metadata"].get("tags", []) for c in code), name

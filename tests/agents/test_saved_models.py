"""A file that is not a saved Stable-Baselines3 model is refused by name, before an env is made."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from recoworld.agents import make_env_and_agent


def _garbage(tmp_path: Path) -> Path:
    path = tmp_path / "model.zip"
    path.write_bytes(bytes(range(256)) * 4)
    return path


def _zip_without_data(tmp_path: Path) -> Path:
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a model")
    return path


@pytest.mark.parametrize("make", [_garbage, _zip_without_data], ids=["random-bytes", "no-data"])
@pytest.mark.parametrize("algo", ["ppo", "maskable-ppo"])
def test_a_bad_checkpoint_is_a_value_error_naming_the_file(tmp_path: Path, make, algo: str) -> None:
    path = make(tmp_path)
    with pytest.raises(ValueError, match="not a Stable-Baselines3 model") as caught:
        make_env_and_agent("RecoWorld-v0", algo, agent_options={"checkpoint": str(tmp_path)})
    assert str(path) in str(caught.value)

"""SCPR checkpoint folders: the FM scorer, the policy and a manifest."""

from __future__ import annotations

import json
import os
from pathlib import Path

from recoworld.agents.scpr.fm import FMScorer
from recoworld.agents.scpr.policy import DQNPolicy, SB3Policy

__all__ = ["load_scpr_checkpoint", "save_scpr_checkpoint"]

CHECKPOINT_MANIFEST = "scpr.json"
CHECKPOINT_FORMAT = "recoworld.SCPR/1"


def save_scpr_checkpoint(
    directory: str | os.PathLike[str], fm: FMScorer, policy: DQNPolicy | SB3Policy
) -> Path:
    """Write an SCPR checkpoint folder: ``fm.pt``, the policy (``dqn.pt`` or
    ``sb3_<algo>.zip``) and the manifest ``scpr.json``. Returns the folder."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    fm.save(root / "fm.pt")
    if isinstance(policy, DQNPolicy):
        entry = {"kind": "dqn", "file": "dqn.pt"}
        policy.save(root / entry["file"])
    elif isinstance(policy, SB3Policy):
        entry = {"kind": "sb3", "algo": policy.algo, "file": f"sb3_{policy.algo}.zip"}
        policy.save(root / entry["file"])
    else:
        raise ValueError(f"policy={policy!r} is neither a DQNPolicy nor an SB3Policy")
    manifest = {"format": CHECKPOINT_FORMAT, "fm": "fm.pt", "policy": entry}
    (root / CHECKPOINT_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return root


def load_scpr_checkpoint(
    directory: str | os.PathLike[str],
) -> tuple[FMScorer, DQNPolicy | SB3Policy]:
    """The FM scorer and the policy of a folder written by :func:`save_scpr_checkpoint`."""
    root = Path(directory)
    manifest_path = root / CHECKPOINT_MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path} does not exist: not an SCPR checkpoint folder")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{manifest_path} is not an SCPR checkpoint manifest")
    fm = FMScorer.load(root / manifest["fm"])
    entry = manifest["policy"]
    if entry["kind"] == "dqn":
        policy: DQNPolicy | SB3Policy = DQNPolicy.load(root / entry["file"])
    elif entry["kind"] == "sb3":
        policy = SB3Policy.load(root / entry["file"], entry["algo"])
    else:
        raise ValueError(f"{manifest_path}: unknown policy kind {entry['kind']!r}")
    return fm, policy

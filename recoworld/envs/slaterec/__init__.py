"""``SlateRec-v0``: slates of items for a simulated user who clicks one of them or none (the
FINN.no slate setting)."""

from recoworld.envs.slaterec.config import MAX_HORIZON, MAX_SLATE_SIZE, SlateRecConfig
from recoworld.envs.slaterec.env import (
    OBJECT_ARGUMENTS,
    SlateRecActionSpace,
    SlateRecEnv,
    slate_rows,
)

__all__ = [
    "MAX_HORIZON",
    "MAX_SLATE_SIZE",
    "OBJECT_ARGUMENTS",
    "SlateRecActionSpace",
    "SlateRecConfig",
    "SlateRecEnv",
    "slate_rows",
]

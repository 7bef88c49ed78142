"""``RecoChat-v0``: natural-language conversational recommendation for LLM agents."""

from recoworld.envs.recochat.config import RecoChatConfig
from recoworld.envs.recochat.env import FEATURES, USERS, RecoChatEnv, item_slots

__all__ = ["FEATURES", "USERS", "RecoChatConfig", "RecoChatEnv", "item_slots"]

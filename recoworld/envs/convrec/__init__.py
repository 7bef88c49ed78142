"""``ConvRec-v0``: ask about attributes or recommend items on a user-item-attribute graph (the
CPR/SCPR protocol), and the world builders it shares with ``RecoChat-v0``."""

from recoworld.envs.convrec.config import ACTION_MODES, REWARD_FIELDS, ConvRecConfig
from recoworld.envs.convrec.env import (
    CANDIDATE_COUNT_BUCKETS,
    OBJECT_ARGUMENTS,
    OUTCOMES,
    AttributeScorer,
    ConvRecActionSpace,
    ConvRecEnv,
    ItemScorer,
    PopularityScorer,
    candidate_count_bucket,
)
from recoworld.envs.convrec.world import (
    DEFAULT_SPLIT_FILE,
    build_world,
    episode_pairs,
    synthetic_catalog_config,
)

__all__ = [
    "ACTION_MODES",
    "CANDIDATE_COUNT_BUCKETS",
    "DEFAULT_SPLIT_FILE",
    "OBJECT_ARGUMENTS",
    "OUTCOMES",
    "REWARD_FIELDS",
    "AttributeScorer",
    "ConvRecActionSpace",
    "ConvRecConfig",
    "ConvRecEnv",
    "ItemScorer",
    "PopularityScorer",
    "build_world",
    "candidate_count_bucket",
    "episode_pairs",
    "synthetic_catalog_config",
]

"""recoworld: simulated environments for agentic and conversational recommender systems.

Importing the package registers its environments with Gymnasium:

* ``RecoWorld-v0`` (:class:`recoworld.envs.RecoWorldEnv`, batched twin for ``gym.make_vec``:
  :class:`recoworld.envs.RecoWorldVectorEnv`): ranked slates for a simulated user who reviews
  them, loses patience, instructs the recommender and returns after a gap.
* ``ConvRec-v0`` (:class:`recoworld.envs.ConvRecEnv`): multi-round conversational
  recommendation on a user-item-attribute graph (the CPR/SCPR protocol).
"""

from gymnasium.envs.registration import register, registry

__version__ = "0.1.0"

ENV_IDS: tuple[str, ...] = ("RecoWorld-v0", "ConvRec-v0")

if "RecoWorld-v0" not in registry:
    register(
        id="RecoWorld-v0",
        entry_point="recoworld.envs.recoworld_env:RecoWorldEnv",
        vector_entry_point="recoworld.envs.vector:RecoWorldVectorEnv",
    )
if "ConvRec-v0" not in registry:
    register(id="ConvRec-v0", entry_point="recoworld.envs.convrec_env:ConvRecEnv")

__all__ = ["ENV_IDS", "__version__"]

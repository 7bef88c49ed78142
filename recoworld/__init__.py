"""recoworld: simulated environments for agentic and conversational recommender systems.

Importing the package registers its environments with Gymnasium:

* ``RecoWorld-v0`` (:class:`recoworld.envs.RecoWorldEnv`, batched twin for ``gym.make_vec``:
  :class:`recoworld.envs.RecoWorldVectorEnv`): ranked slates for a simulated user who reviews
  them, loses patience, instructs the recommender and returns after a gap.
* ``ConvRec-v0`` (:class:`recoworld.envs.ConvRecEnv`): multi-round conversational
  recommendation on a user-item-attribute graph (the CPR/SCPR protocol).
* ``RecoChat-v0`` (:class:`recoworld.envs.recochat.env.RecoChatEnv`): natural-language
  conversational recommendation for LLM agents, with a rule-based user or the ECPO AILO user
  voiced by a language model.
* ``SlateRec-v0`` (:class:`recoworld.envs.SlateRecEnv`): slates of up to 25 items for a
  simulated user who clicks one of them or none (the FINN.no slate setting), on a synthetic
  world or one built from FINN.no-format logs.
"""

from gymnasium.envs.registration import register, registry

__version__ = "0.1.0"

ENV_IDS: tuple[str, ...] = ("RecoWorld-v0", "ConvRec-v0", "RecoChat-v0", "SlateRec-v0")

if "RecoWorld-v0" not in registry:
    register(
        id="RecoWorld-v0",
        entry_point="recoworld.envs.recoworld.env:RecoWorldEnv",
        vector_entry_point="recoworld.envs.recoworld.vector:RecoWorldVectorEnv",
    )
if "ConvRec-v0" not in registry:
    register(id="ConvRec-v0", entry_point="recoworld.envs.convrec.env:ConvRecEnv")
if "RecoChat-v0" not in registry:
    register(id="RecoChat-v0", entry_point="recoworld.envs.recochat.env:RecoChatEnv")
if "SlateRec-v0" not in registry:
    register(id="SlateRec-v0", entry_point="recoworld.envs.slaterec.env:SlateRecEnv")

__all__ = ["ENV_IDS", "__version__"]

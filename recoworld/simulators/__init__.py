"""User simulators. They know nothing of Gymnasium; environments adapt them.

Batched user models follow :class:`UserModel` (sample, step a batch of slates, end a session with
a return gap, begin the next); :class:`LatentUserModel` is the latent-state model behind it.
"""

from recoworld.simulators.ailo import (
    AILOAnswer,
    AILOPersona,
    AILOProfile,
    AILOUser,
    UserReply,
    sample_ailo_user,
)
from recoworld.simulators.config import CHOICE_MODELS, UserModelConfig
from recoworld.simulators.instruction import InstructionVoice, ReflectiveInstruction, TemplateVoice
from recoworld.simulators.latent import (
    LatentUserState,
    TurnOutcome,
    begin_session,
    boredom_after,
    cascade_review,
    click_probability,
    draw_return_gap,
    familiarity_after,
    item_utilities,
    patience_after,
    return_hazard,
    sample_users,
    slate_choice_probabilities,
    step_users,
    topic_preferences,
    watch_fraction,
)
from recoworld.simulators.llm_user import (
    DECISION_MODES,
    Decision,
    LLMUser,
    TurnView,
    template_mindset,
)
from recoworld.simulators.llm_voice import LLMVoice, names_a_topic
from recoworld.simulators.protocol import LatentUserModel, UserModel
from recoworld.simulators.rule_chat import RuleChatUser

__all__ = [
    "CHOICE_MODELS",
    "DECISION_MODES",
    "AILOAnswer",
    "AILOPersona",
    "AILOProfile",
    "AILOUser",
    "Decision",
    "InstructionVoice",
    "LLMUser",
    "LLMVoice",
    "LatentUserModel",
    "LatentUserState",
    "ReflectiveInstruction",
    "RuleChatUser",
    "TemplateVoice",
    "TurnOutcome",
    "TurnView",
    "UserModel",
    "UserModelConfig",
    "UserReply",
    "begin_session",
    "boredom_after",
    "cascade_review",
    "click_probability",
    "draw_return_gap",
    "familiarity_after",
    "item_utilities",
    "names_a_topic",
    "patience_after",
    "return_hazard",
    "sample_ailo_user",
    "sample_users",
    "slate_choice_probabilities",
    "step_users",
    "template_mindset",
    "topic_preferences",
    "watch_fraction",
]

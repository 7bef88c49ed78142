"""Typed, validated configuration of the latent user model."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

CHOICE_MODELS = ("cascade", "mnl")
"""The values of :attr:`UserModelConfig.choice_model`."""


@dataclass(frozen=True)
class UserModelConfig:
    """Parameters of the latent user population and its dynamics.

    Every field is validated on construction; a bad value raises ``ValueError`` naming the field,
    the value and the allowed range. Units: "turn" is one recommendation step, "day" is simulated
    calendar time between sessions.

    Population:
        n_interests: interest vectors per user (K).
        interest_concentration: Dirichlet concentration of the interest weights; small values
            give one dominant interest, large values balanced interests.
        interest_spread: how far an interest vector lies from its topic's centroid (noise scale).
        novelty_propensity_a, novelty_propensity_b: Beta prior of the static per-user novelty
            propensity.
        patience_low, patience_high: initial patience of a session is drawn per user, uniformly in
            this range (patience lives in ``[0, 1]``).

    Choice (how the user answers a slate):
        choice_model: ``"cascade"`` (default): the user reviews the ranked list top-down and
            clicks any number of examined items, each with
            ``sigmoid(utility - no_click_utility)`` (position bias through the ``continue_*``
            probabilities). ``"mnl"``: a multinomial logit over the whole slate plus the no-click
            option: at most one click per turn, slot ``s`` with probability
            ``exp(u_s) / (exp(no_click_utility) + sum_j exp(u_j))`` (every shown slot counts as
            examined; the ``continue_*`` fields are unused). FINN.no's one-click-or-none
            response.
        affinity_scale: weight of the best interest's cosine affinity in the utility.
        interest_weight_scale: how much an interest's weight adds to its affinity
            (``affinity_scale * (cos + interest_weight_scale * log(K * w_k))``, max over k).
        quality_weight: weight of ``quality - 0.5``.
        boredom_weight: weight of the item's topic boredom.
        novelty_weight: weight of the item's topic unfamiliarity times the user's novelty appetite.
        seen_penalty: utility penalty of an item already shown this session.
        consumed_penalty: utility penalty of an item the user already consumed.
        no_click_utility: utility of the outside option; click probability is
            ``sigmoid(utility - no_click_utility)``.
        continue_after_click, continue_after_skip: probability of examining the next position
            after clicking / skipping the current one (position bias).
        watch_sharpness, watch_noise: watch fraction of a clicked item is
            ``sigmoid(watch_sharpness * (utility - no_click_utility) + watch_noise * N(0, 1))``.

    Transition:
        drift_rate: a consumed item pulls the interest vector nearest to it by
            ``drift_rate * watch_fraction`` of the way toward its embedding.
        boredom_gain, boredom_decay: per-topic boredom grows by ``boredom_gain`` times the consumed
            topic mass and is multiplied by ``boredom_decay`` every turn.
        boredom_recovery_days: between sessions boredom decays by ``exp(-gap / this)``.
        familiarity_rate: familiarity ``f`` of a topic moves as ``1 - (1 - f) * exp(-rate * mass)``.
        familiarity_memory_days: between sessions familiarity decays by ``exp(-gap / this)``.
        novelty_state_rate: the session novelty appetite moves toward the share of the turn's
            consumption that was already familiar, at this rate (repetition makes users seek
            novelty).
        fatigue: patience lost every turn.
        empty_turn_penalty: extra patience lost on a turn without any click.
        patience_gain: patience gained per fully watched item.
        leave_prob: per-turn probability of leaving for reasons outside the recommender's control.

    Reflective instruction:
        instruction_threshold: a user whose patience falls under this emits an instruction.
        instruction_cooldown: minimum turns between two instructions of the same session.

    Retention:
        return_rate: return hazard per day at ``satisfaction_reference`` satisfaction.
        return_sensitivity: the hazard is ``return_rate * exp(return_sensitivity * (s - ref))``
            with ``s`` the session's mean satisfaction (watched items per turn).
        satisfaction_reference: satisfaction at which the hazard equals ``return_rate``.
        churn_days: a drawn return gap longer than this means the user does not come back.
    """

    n_interests: int = 3
    interest_concentration: float = 1.0
    interest_spread: float = 0.5
    novelty_propensity_a: float = 2.0
    novelty_propensity_b: float = 5.0
    patience_low: float = 0.6
    patience_high: float = 1.0

    affinity_scale: float = 6.0
    interest_weight_scale: float = 0.25
    quality_weight: float = 1.0
    boredom_weight: float = 2.0
    novelty_weight: float = 2.0
    seen_penalty: float = 1.0
    consumed_penalty: float = 3.0
    no_click_utility: float = 3.5
    choice_model: str = "cascade"
    continue_after_click: float = 0.6
    continue_after_skip: float = 0.85
    watch_sharpness: float = 1.0
    watch_noise: float = 0.5

    drift_rate: float = 0.05
    boredom_gain: float = 0.15
    boredom_decay: float = 0.8
    boredom_recovery_days: float = 1.0
    familiarity_rate: float = 0.2
    familiarity_memory_days: float = 30.0
    novelty_state_rate: float = 0.3
    fatigue: float = 0.08
    empty_turn_penalty: float = 0.1
    patience_gain: float = 0.06
    leave_prob: float = 0.01

    instruction_threshold: float = 0.35
    instruction_cooldown: int = 3

    return_rate: float = 0.15
    return_sensitivity: float = 2.5
    satisfaction_reference: float = 1.0
    churn_days: float = 14.0

    def __post_init__(self) -> None:
        probabilities = {
            "continue_after_click",
            "continue_after_skip",
            "boredom_decay",
            "leave_prob",
            "novelty_state_rate",
            "patience_low",
            "patience_high",
            "instruction_threshold",
        }
        positive = {
            "interest_concentration",
            "novelty_propensity_a",
            "novelty_propensity_b",
            "boredom_recovery_days",
            "familiarity_memory_days",
            "return_rate",
            "churn_days",
        }
        unbounded = {"no_click_utility", "satisfaction_reference"}
        if not isinstance(self.choice_model, str) or self.choice_model not in CHOICE_MODELS:
            raise ValueError(
                f"UserModelConfig.choice_model={self.choice_model!r} must be one of "
                f"{', '.join(repr(name) for name in CHOICE_MODELS)}"
            )
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "choice_model":
                continue
            if f.type == "int":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError(f"UserModelConfig.{f.name}={value!r} must be an integer")
                minimum = 1 if f.name == "n_interests" else 0
                if value < minimum:
                    raise ValueError(
                        f"UserModelConfig.{f.name}={value} is outside the range [{minimum}, inf)"
                    )
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"UserModelConfig.{f.name}={value!r} is not a number")
            if not math.isfinite(value):
                raise ValueError(f"UserModelConfig.{f.name}={value!r} must be finite")
            if f.name in probabilities and not 0.0 <= value <= 1.0:
                raise ValueError(f"UserModelConfig.{f.name}={value} is outside the range [0, 1]")
            if f.name in positive and value <= 0.0:
                raise ValueError(f"UserModelConfig.{f.name}={value} is outside the range (0, inf)")
            if f.name not in probabilities | positive | unbounded and value < 0.0:
                raise ValueError(f"UserModelConfig.{f.name}={value} is outside the range [0, inf)")
        if self.patience_low > self.patience_high:
            raise ValueError(
                f"UserModelConfig.patience_low={self.patience_low} exceeds "
                f"patience_high={self.patience_high}"
            )

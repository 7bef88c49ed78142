"""``llm-aligned``: a small language model aligned to logged choices (UserMirrorer SFT + DPO).

The UserMirrorer recipe (arXiv 2508.18142) on the library's tools, as a
:class:`~recoworld.fidelity.SceneSimulator`:

1. **Train scenes.** :meth:`AlignedSceneSimulator.fit` builds scenes from the train log itself
   (:func:`recoworld.fidelity.scenes`, history split in time: a scene's history is the user's
   train rows strictly before the target): ``train_scenes`` targets with at least
   ``min_history`` earlier rows of their user, drawn from the seed and shuffled with it, then an
   equal share built with each sampler of ``negatives`` (so every sampler sees a mix of users,
   even on a log sorted by user). Nothing outside the train log enters.
2. **Rationales.** The rationale model (``rationale_llm``, default the embedded model through
   llama.cpp) answers each scene ``rationales_per_scene`` times with the ``fidelity_scene`` prompt
   and schema (what the ``llm`` simulator sends) at ``rationale_temperature``, each call with its
   own seed drawn from the seed; and once more with the packaged ``fidelity_rationale`` prompt,
   which tells it the item the user really chose and asks why, so every scene has a rationale
   that leads to the real choice. A failed or malformed answer is counted
   (``failed_rationales``) and skipped; every request is in ``usage`` and
   ``rationale_usage``.
3. **Uncertainty filter.** The entropy of each scene's sampled letters (over the valid
   answers) measures how unsure the rationale model is; the ``keep_fraction`` most uncertain
   scenes are kept (UserMirrorer's selection: confident scenes teach little), ties broken by a
   draw from the seed. Scenes with no valid sampled answer have no entropy and are left out.
4. **Training.** Supervised fine-tuning (:func:`recoworld.training.dpo.train_sft`) on
   (prompt -> answer leading to the real choice: the guided rationale, else a sampled answer
   that chose right), then DPO (:func:`~recoworld.training.dpo.train_dpo`) on pairs chosen = an
   answer leading to the real choice, rejected = a sampled answer leading elsewhere (drawn from
   the seed). A scene whose samples all chose right gives no pair; with no pair at all DPO is
   skipped (the metadata says so). ``time_budget_s`` is split between the two stages
   (``sft_share`` to SFT, the rest plus what SFT left over to DPO).
5. **Checkpoint.** The trained model and tokenizer, with ``recoworld_aligned.json`` (base model,
   seed, prompt versions, options, scenes and pairs used, losses, seconds, rationale usage), go
   to the folder ``out``; with ``out=None`` to a new folder under
   ``$XDG_CACHE_HOME/recoworld/hf/aligned/`` (``~/.cache/...``), kept as
   :attr:`AlignedSceneSimulator.checkpoint_dir`. The folder is a plain transformers folder, so
   ``llm="hf:<folder>"`` chats with the aligned model anywhere the library takes ``llm=``.

**Answer format, a deviation from the paper.** The model is trained to answer with the choice
*first*, ``{"choice": "C", "rationale": "..."}``, where UserMirrorer writes the rationale first.
Then :meth:`~AlignedSceneSimulator.predict` reads a *soft* distribution from one forward pass per
scene, without generating: the next-token probabilities of the letters after the assistant
prefix ``{"choice": "``, renormalised over the listed letters. Generating a rationale before
each choice would cost seconds per scene on a CPU and give one sampled letter (a one-hot row, as
the ``llm`` simulator does); the forward pass gives probabilities, so log-likelihood and
calibration mean something. The prompt still asks for the rationale, and the model still writes
one after the letter when it generates.

The same scoring runs on any chat model folder: :meth:`AlignedSceneSimulator.untrained` scores
with the base model as it is, the baseline an aligned model is compared with.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recoworld.catalog import Catalog, Interactions
from recoworld.fidelity.llm_scene import LETTERS, RATIONALE_MAX_CHARS, choice_schema, scene_prompt
from recoworld.fidelity.llm_scene import PROMPT_NAME as SCENE_PROMPT
from recoworld.fidelity.scene import NEGATIVE_SAMPLERS, Scenes, train_scenes
from recoworld.fidelity.simulators import check_scenes
from recoworld.folders import check_replaceable, replace_folder
from recoworld.llm.base import (
    ChatModel,
    CostCapExceeded,
    LLMError,
    Message,
    Usage,
    prepare_messages,
)
from recoworld.llm.prompts import load_prompt
from recoworld.llm.settings import LLMSettings, LLMSpec
from recoworld.seeding import spawn_rng
from recoworld.validation import check_choice, check_int, check_number, check_seed

if TYPE_CHECKING:
    from recoworld.training.dpo import PreferencePair, SFTExample

__all__ = [
    "ANSWER_PREFIX",
    "METADATA_FILE",
    "RATIONALE_PROMPT",
    "AlignedSceneSimulator",
    "answer_text",
    "read_metadata",
]

METADATA_FILE = "recoworld_aligned.json"
"""The metadata file of an aligned checkpoint folder."""

METADATA_FORMAT = "recoworld-aligned"
METADATA_VERSION = 1

RATIONALE_PROMPT = "fidelity_rationale"
"""The packaged prompt asking for a rationale of the real choice."""

ANSWER_PREFIX = '{"choice": "'
"""What the assistant's answer starts with; the next token is the letter scored."""

_REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "version": int,
    "base_model": str,
    "seed": int,
    "prompt_versions": dict,
    "options": dict,
}


def answer_text(letter: str, rationale: str) -> str:
    """The answer the model is trained on: the choice first, then the rationale, as JSON
    (``{"choice": "C", "rationale": "..."}``; it starts with :data:`ANSWER_PREFIX`)."""
    return json.dumps({"choice": letter, "rationale": rationale})


def _rationale_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"rationale": {"type": "string", "maxLength": RATIONALE_MAX_CHARS}},
        "required": ["rationale"],
        "additionalProperties": False,
    }


def _entropy(counts: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row of letter counts (``nan`` where a row has none)."""
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = counts / totals
        terms = np.where(shares > 0, -shares * np.log(np.where(shares > 0, shares, 1.0)), 0.0)
    out = terms.sum(axis=1)
    out[totals[:, 0] == 0] = np.nan
    return out


class _Samples:
    """The rationale model's answers for the train scenes."""

    def __init__(self, n: int, k: int) -> None:
        self.letters = np.full((n, k), -1, dtype=np.int64)
        self.rationales: list[list[str | None]] = [[None] * k for _ in range(n)]
        self.guided: list[str | None] = [None] * n


class AlignedSceneSimulator:
    """A chat model trained on logged choices by SFT then DPO, scored by one forward pass per
    scene (see the module docstring).

    Args:
        seed: seeds the train scenes, the rationale calls, the tie-breaks, the rejected
            answers and the training.
        checkpoint: an aligned checkpoint folder to use as it is (``fit`` learns nothing then).
        rationale_llm: the model writing rationales (any ``llm=`` spec; default ``"local"``, the
            embedded model through llama.cpp).
        out: the folder the checkpoint is written to (``None``: a new folder under the user
            cache dir, see the module docstring).
        overwrite: replace an existing ``out``.
        base_model: the transformers folder trained (default: the embedded model converted by
            :func:`recoworld.training.dpo.embedded_hf_model`).
        train_scenes: train scenes built from the log (at most; fewer when fewer targets have
            ``min_history`` earlier rows). Each costs ``rationales_per_scene + 1`` rationale
            calls: about 7 s each with the embedded model on two busy cores (MovieLens prompts
            of about 700 tokens), so the default 64 scenes take about 40 minutes of calls
            before training starts.
        min_history: earlier rows of its user a train target needs.
        n_choices: listed items per train scene.
        negatives: samplers of the train scenes' other items (an equal share each).
        max_history: history items a prompt shows (the latest).
        rationales_per_scene: sampled answers per train scene (>= 1).
        rationale_temperature: their sampling temperature (> 0).
        rationale_max_tokens: completion budget of a rationale call.
        keep_fraction: share of the scenes with valid samples kept, the most uncertain first.
        sft_epochs, dpo_epochs: passes over the SFT examples and the DPO pairs.
        sft_learning_rate, dpo_learning_rate: their AdamW learning rates.
        beta: DPO's beta.
        batch_size: examples per optimisation step.
        max_length: longest tokenized training example (prompt and answer).
        time_budget_s: training time of SFT and DPO together, in seconds (default one hour;
            the rationale calls come before and are not counted). Measured on two busy cores
            with MovieLens prompts, batch 4: about 90 s per SFT step and 230 s per DPO step
            (policy and reference model on chosen and rejected answers); the step that spends
            the budget finishes, so each stage runs at least one step.
        sft_share: share of the budget given to SFT (DPO gets the rest and what SFT left).
        threads: torch threads for training and scoring.
        score_batch_size: scenes per forward pass in :meth:`predict` (left-padded).
        on_progress: called with a line of text at each stage and training step.

    Attributes:
        usage: every model request since the simulator was made (all its fits and scorings):
            the rationale calls (failed ones included) and one call per scene scored (its
            prompt tokens; no completion).
        rationale_usage: the part of ``usage`` that is rationale calls (training time, all
            fits); ``usage - rationale_usage`` is the scoring. The checkpoint's metadata holds
            the rationale usage of the fit that wrote it alone.
        failed_rationales: rationale calls of the latest fit that failed or gave a malformed
            answer (reset at the start of each fit, like the metadata).
        unusable_train_scenes: kept train scenes of the latest fit left with no answer leading
            to the real choice (no SFT example, no pair).
        failed_scenes: scenes :meth:`predict` answered by chance: always 0 (a forward pass
            gives every scene a distribution, or raises), kept for the fidelity reports that
            read it from every LLM simulator.
        checkpoint_dir: the checkpoint in use (after ``fit`` or ``load``).
        metadata: the checkpoint's ``recoworld_aligned.json`` content.

    Raises:
        ValueError: an option out of range (named).
        FileExistsError: ``out`` exists and ``overwrite`` is false, or is a folder holding
            files but no ``recoworld_aligned.json`` (never replaced).
    """

    name = "llm-aligned"

    def __init__(
        self,
        *,
        seed: int = 0,
        checkpoint: str | os.PathLike[str] | None = None,
        rationale_llm: LLMSpec | None = None,
        out: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
        base_model: str | os.PathLike[str] | None = None,
        train_scenes: int = 64,
        min_history: int = 10,
        n_choices: int = 5,
        negatives: tuple[str, ...] = ("popularity", "uniform"),
        max_history: int = 20,
        rationales_per_scene: int = 4,
        rationale_temperature: float = 1.0,
        rationale_max_tokens: int = 128,
        keep_fraction: float = 0.5,
        sft_epochs: float = 1.0,
        dpo_epochs: float = 1.0,
        sft_learning_rate: float = 2e-5,
        dpo_learning_rate: float = 5e-6,
        beta: float = 0.1,
        batch_size: int = 4,
        max_length: int = 1024,
        time_budget_s: float = 3600.0,
        sft_share: float = 0.5,
        threads: int = 2,
        score_batch_size: int = 8,
        on_progress: Callable[[str], None] | None = None,
    ) -> None:
        self.seed = check_seed("seed", seed)
        self.checkpoint = None if checkpoint is None else Path(checkpoint).expanduser()
        self.rationale_settings = LLMSettings.of(
            "local" if rationale_llm is None else rationale_llm
        )
        self.out = None if out is None else Path(out).expanduser()
        if not isinstance(overwrite, bool):
            raise ValueError(f"overwrite={overwrite!r} must be True or False")
        self.overwrite = overwrite
        if self.out is not None and self.checkpoint is None:
            _check_new_folder("out", self.out, overwrite)
        self.base_model = None if base_model is None else Path(base_model).expanduser()
        self.train_scenes = check_int("train_scenes", train_scenes, 1)
        self.min_history = check_int("min_history", min_history, 0)
        self.n_choices = check_int("n_choices", n_choices, 2, len(LETTERS))
        if isinstance(negatives, str) or not negatives:
            raise ValueError(
                f"negatives={negatives!r} must be a non-empty tuple of samplers from "
                f"{NEGATIVE_SAMPLERS}"
            )
        self.negatives = tuple(check_choice("negatives", n, NEGATIVE_SAMPLERS) for n in negatives)
        self.max_history = check_int("max_history", max_history, 0)
        self.rationales_per_scene = check_int("rationales_per_scene", rationales_per_scene, 1)
        self.rationale_temperature = check_number(
            "rationale_temperature", rationale_temperature, 0.0, 2.0, low_open=True
        )
        self.rationale_max_tokens = check_int("rationale_max_tokens", rationale_max_tokens, 1)
        self.keep_fraction = check_number("keep_fraction", keep_fraction, 0.0, 1.0, low_open=True)
        self.sft_epochs = check_number("sft_epochs", sft_epochs, 0.0, low_open=True)
        self.dpo_epochs = check_number("dpo_epochs", dpo_epochs, 0.0, low_open=True)
        self.sft_learning_rate = check_number(
            "sft_learning_rate", sft_learning_rate, 0.0, low_open=True
        )
        self.dpo_learning_rate = check_number(
            "dpo_learning_rate", dpo_learning_rate, 0.0, low_open=True
        )
        self.beta = check_number("beta", beta, 0.0, low_open=True)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.max_length = check_int("max_length", max_length, 8)
        self.time_budget_s = check_number("time_budget_s", time_budget_s, 0.0, low_open=True)
        self.sft_share = check_number("sft_share", sft_share, 0.0, 1.0, low_open=True)
        self.threads = check_int("threads", threads, 1)
        self.score_batch_size = check_int("score_batch_size", score_batch_size, 1)
        if on_progress is not None and not callable(on_progress):
            raise ValueError(f"on_progress={on_progress!r} must be a function of a str or None")
        self.on_progress = on_progress
        self.scene_template = load_prompt(SCENE_PROMPT, "v1")
        self.rationale_template = load_prompt(RATIONALE_PROMPT, "v1")
        self.usage = Usage()
        self.rationale_usage = Usage()
        self.failed_rationales = 0
        self.unusable_train_scenes = 0
        self.failed_scenes = 0
        self.checkpoint_dir: Path | None = None
        self.metadata: dict[str, Any] | None = None
        self.titles: tuple[str, ...] | None = None
        self.descriptions: tuple[str, ...] | None = None
        self._loaded: tuple[Any, Any] | None = None
        self._untrained = False

    # -- construction from folders ---------------------------------------------------------

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        threads: int | None = None,
        score_batch_size: int | None = None,
    ) -> AlignedSceneSimulator:
        """The simulator of the aligned checkpoint folder ``path`` (its metadata is read and
        checked now; the weights load on the first :meth:`predict`). Call :meth:`fit` (which
        then only keeps the catalog's titles and descriptions) before :meth:`predict`.

        ``threads`` and ``score_batch_size`` default to the values the checkpoint was trained
        and scored with, so the predictions are bitwise those of the simulator that wrote it
        (another thread count changes float sums in the last digits).

        Raises:
            FileNotFoundError, NotADirectoryError, ValueError: the folder, its model or its
                ``recoworld_aligned.json`` is missing or malformed (the folder, file and field
                are named).
        """
        options = read_metadata(path)["options"]
        if threads is None:
            threads = options.get("threads", 2)
        if score_batch_size is None:
            score_batch_size = options.get("score_batch_size", 8)
        simulator = cls(
            checkpoint=path,
            threads=check_int(f"{METADATA_FILE} options.threads", threads, 1),
            score_batch_size=check_int(
                f"{METADATA_FILE} options.score_batch_size", score_batch_size, 1
            ),
        )
        simulator._use_checkpoint()
        return simulator

    @classmethod
    def untrained(
        cls,
        base_model: str | os.PathLike[str] | None = None,
        *,
        max_history: int = 20,
        threads: int = 2,
        score_batch_size: int = 8,
    ) -> AlignedSceneSimulator:
        """A simulator that scores scenes with the chat model folder ``base_model`` as it is
        (default: the embedded model, see :func:`recoworld.training.dpo.embedded_hf_model`),
        with the same prompt and the same letter-probability scoring as an aligned one: the
        baseline of a comparison. ``fit`` only keeps the catalog's titles and descriptions.

        Raises:
            FileNotFoundError, NotADirectoryError, ValueError: ``base_model`` is not a
                transformers model folder (named).
        """
        from recoworld.llm.transformers_backend import check_hf_folder

        simulator = cls(
            base_model=base_model,
            max_history=max_history,
            threads=threads,
            score_batch_size=score_batch_size,
        )
        simulator.checkpoint_dir = check_hf_folder(simulator._base_model())
        simulator._untrained = True
        return simulator

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, history: Interactions, catalog: Catalog) -> AlignedSceneSimulator:
        """Train on the log ``history`` (see the module docstring), or, with a ``checkpoint``
        (or after :meth:`load` / :meth:`untrained`), only keep the catalog's titles and
        descriptions.

        Raises:
            ValueError: the log is empty, names items outside the catalog, has no target with
                ``min_history`` earlier rows, or no scene got an answer leading to the real
                choice; a bad checkpoint (named).
            FileExistsError: ``out`` exists and ``overwrite`` is false.
            recoworld.llm.CostCapExceeded: the rationale model's cap was spent.
        """
        if not isinstance(history, Interactions):
            raise ValueError(f"history must be an Interactions table, got {type(history)!r}")
        if not isinstance(catalog, Catalog):
            raise ValueError(f"catalog must be a Catalog, got {type(catalog)!r}")
        if len(history) and int(history.items.max()) >= catalog.n_items:
            raise ValueError(
                f"history names item row {int(history.items.max())}, outside the catalog's "
                f"0..{catalog.n_items - 1}"
            )
        self.titles = tuple(catalog.titles)
        self.descriptions = tuple(catalog.descriptions)
        if self.checkpoint is not None:
            self._use_checkpoint()
            return self
        if self._untrained:
            return self
        self._train(history, catalog)
        return self

    def _use_checkpoint(self) -> None:
        assert self.checkpoint is not None
        if self.checkpoint_dir == self.checkpoint and self.metadata is not None:
            return
        self.metadata = read_metadata(self.checkpoint)
        options = self.metadata["options"]
        self.max_history = check_int(
            f"{METADATA_FILE} options.max_history", options.get("max_history"), 0
        )
        self.checkpoint_dir = self.checkpoint
        self._loaded = None

    def _say(self, line: str) -> None:
        if self.on_progress is not None:
            self.on_progress(line)

    def _base_model(self) -> Path:
        if self.base_model is not None:
            return self.base_model
        from recoworld.training.dpo import embedded_hf_model

        return embedded_hf_model()

    def _train_scenes(self, history: Interactions, catalog: Catalog) -> Scenes:
        if len(history) == 0:
            raise ValueError("history is empty: llm-aligned needs train interactions to fit")
        (pick_rng,) = spawn_rng(np.random.default_rng(self.seed), 1)
        if self.n_choices > catalog.n_items:
            raise ValueError(
                f"n_choices={self.n_choices} exceeds the catalog's {catalog.n_items} items: a "
                "train scene lists n_choices different items"
            )
        built, _ = train_scenes(
            history,
            catalog,
            count=self.train_scenes,
            min_history=self.min_history,
            negatives=self.negatives,
            n_choices=self.n_choices,
            rng=pick_rng,
        )
        return built

    def prompt_messages(self, scenes: Scenes, scene: int) -> list[Message]:
        """The chat messages of scene ``scene``, as trained on and scored: the
        ``fidelity_scene`` prompt with the answer-format instruction of its schema."""
        return prepare_messages(
            self._scene_messages(scenes, scene), choice_schema(scenes.n_choices)
        )

    def _scene_messages(self, scenes: Scenes, scene: int) -> list[Message]:
        """The ``fidelity_scene`` prompt alone: what the rationale model is sent (its
        ``complete`` adds the schema instruction, giving :meth:`prompt_messages`)."""
        if self.titles is None or self.descriptions is None:
            raise ValueError("AlignedSceneSimulator: call fit(history, catalog) first")
        prompt = scene_prompt(
            self.scene_template, scenes, scene, self.titles, self.descriptions, self.max_history
        )
        return [{"role": "user", "content": prompt}]

    def _rationale_messages(self, scenes: Scenes, scene: int) -> list[Message]:
        assert self.titles is not None and self.descriptions is not None
        marker = "\x1e"
        history_text, choices_text = scene_prompt(
            "{history}" + marker + "{choices}",
            scenes,
            scene,
            self.titles,
            self.descriptions,
            self.max_history,
        ).split(marker)
        answer = int(scenes.answers[scene])
        prompt = self.rationale_template.format(
            history=history_text,
            choices=choices_text,
            choice=LETTERS[answer],
            title=self.titles[int(scenes.choices[scene, answer])],
        )
        return [{"role": "user", "content": prompt}]

    def _ask(
        self, model: ChatModel, messages: list[Message], schema: dict[str, Any], seed: int
    ) -> Any:
        """One rationale call: the parsed answer, or ``None`` (counted) when it failed."""
        try:
            response = model.complete(
                messages,
                schema=schema,
                temperature=self.rationale_temperature,
                max_tokens=self.rationale_max_tokens,
                seed=seed,
            )
        except CostCapExceeded as error:
            self._count_rationale(error.usage)
            raise
        except LLMError as error:
            self._count_rationale(error.usage)
            self.failed_rationales += 1
            return None
        self._count_rationale(response.usage)
        return response.parsed

    def _count_rationale(self, usage: Usage) -> None:
        self.usage = self.usage + usage
        self.rationale_usage = self.rationale_usage + usage

    def _sample(self, model: ChatModel, built: Scenes) -> _Samples:
        n, k = len(built), self.rationales_per_scene
        (seed_rng,) = spawn_rng(np.random.default_rng([self.seed, 1]), 1)
        seeds = seed_rng.integers(0, 2**31, size=(n, k + 1))
        schema = choice_schema(built.n_choices)
        samples = _Samples(n, k)
        letters = LETTERS[: built.n_choices]
        for s in range(n):
            messages = self._scene_messages(built, s)
            for j in range(k):
                parsed = self._ask(model, messages, schema, int(seeds[s, j]))
                letter = parsed.get("choice") if isinstance(parsed, dict) else None
                rationale = parsed.get("rationale") if isinstance(parsed, dict) else None
                if parsed is None:
                    continue
                if not (isinstance(letter, str) and letter in letters) or not isinstance(
                    rationale, str
                ):
                    self.failed_rationales += 1
                    self._count_rationale(Usage(failed_calls=1))
                    continue
                samples.letters[s, j] = letters.index(letter)
                samples.rationales[s][j] = rationale.strip()
            parsed = self._ask(
                model, self._rationale_messages(built, s), _rationale_schema(), int(seeds[s, k])
            )
            rationale = parsed.get("rationale") if isinstance(parsed, dict) else None
            if isinstance(rationale, str) and rationale.strip():
                samples.guided[s] = rationale.strip()
            elif parsed is not None:  # valid JSON, but no usable rationale in it
                self.failed_rationales += 1
                self._count_rationale(Usage(failed_calls=1))
            self._say(f"rationales: scene {s + 1}/{n} ({self.failed_rationales} failed calls)")
        return samples

    def _select(self, samples: _Samples, n_choices: int) -> np.ndarray:
        """Scene indices kept by the uncertainty filter, most uncertain first."""
        valid = samples.letters >= 0
        counts = np.zeros((len(valid), n_choices), dtype=np.int64)
        rows, cols = np.nonzero(valid)
        np.add.at(counts, (rows, samples.letters[rows, cols]), 1)
        entropy = _entropy(counts)
        candidates = np.flatnonzero(~np.isnan(entropy))
        (tie_rng,) = spawn_rng(np.random.default_rng([self.seed, 2]), 1)
        ties = tie_rng.random(len(entropy))
        order = candidates[np.lexsort((ties[candidates], -entropy[candidates]))]
        n_keep = max(1, math.ceil(self.keep_fraction * len(candidates))) if len(order) else 0
        return order[:n_keep]

    def _examples(
        self, built: Scenes, samples: _Samples, kept: np.ndarray
    ) -> tuple[list[SFTExample], list[PreferencePair]]:
        from recoworld.training.dpo import PreferencePair, SFTExample

        (pair_rng,) = spawn_rng(np.random.default_rng([self.seed, 3]), 1)
        sft: list[SFTExample] = []
        pairs: list[PreferencePair] = []
        for s in kept.tolist():
            real = int(built.answers[s])
            letter = LETTERS[real]
            right = [
                samples.rationales[s][j]
                for j in range(self.rationales_per_scene)
                if samples.letters[s, j] == real
            ]
            rationale = samples.guided[s]
            if rationale is None and right:
                rationale = right[0]
            if rationale is None:
                self.unusable_train_scenes += 1
                continue
            prompt = self.prompt_messages(built, s)
            chosen = answer_text(letter, rationale)
            sft.append(SFTExample(prompt=prompt, completion=chosen))
            wrong = [
                j
                for j in range(self.rationales_per_scene)
                if samples.letters[s, j] >= 0 and samples.letters[s, j] != real
            ]
            if wrong:
                j = wrong[int(pair_rng.integers(len(wrong)))]
                rejected_rationale = samples.rationales[s][j]
                assert rejected_rationale is not None
                rejected = answer_text(LETTERS[int(samples.letters[s, j])], rejected_rationale)
                pairs.append(PreferencePair(prompt=prompt, chosen=chosen, rejected=rejected))
        return sft, pairs

    def _train(self, history: Interactions, catalog: Catalog) -> None:
        from recoworld.training.dpo import StepLog, TrainingResult, train_dpo, train_sft

        started = time.perf_counter()
        self.failed_rationales = 0  # the counts of this fit (the metadata describes it alone)
        self.unusable_train_scenes = 0
        base = self._base_model()
        from recoworld.llm.transformers_backend import check_hf_folder

        check_hf_folder(base)
        out = self.out
        if out is not None:
            _check_new_folder("out", out, self.overwrite)
        built = self._train_scenes(history, catalog)
        self._check_prompt_lengths(base, built)
        self._say(f"train scenes: {len(built)}")
        model = self.rationale_settings.build()
        usage_before = self.rationale_usage
        samples = self._sample(model, built)
        rationale_usage = self.rationale_usage - usage_before
        kept = self._select(samples, built.n_choices)
        sft_examples, pairs = self._examples(built, samples, kept)
        self._say(
            f"kept {len(kept)} uncertain scenes: {len(sft_examples)} SFT examples, "
            f"{len(pairs)} DPO pairs"
        )
        if not sft_examples:
            raise ValueError(
                f"llm-aligned: none of the {len(built)} train scenes got an answer leading to "
                f"the real choice ({self.failed_rationales} rationale calls failed); nothing "
                "to train on"
            )

        def progress(stage: str) -> Callable[[StepLog], None]:
            def report(step: StepLog) -> None:
                margin = "" if step.reward_margin is None else f" margin {step.reward_margin:.3f}"
                self._say(
                    f"{stage} step {step.step}: loss {step.loss:.4f}{margin} ({step.seconds:.0f} s)"
                )

            return report

        if out is None:
            from recoworld.training.dpo import hf_cache_dir

            root = hf_cache_dir() / "aligned"
            root.mkdir(parents=True, exist_ok=True)
            out = Path(tempfile.mkdtemp(prefix=f"llm-aligned-seed{self.seed}-", dir=root))
        out.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}-aligned-", dir=out.parent))
        self._say(f"training into {out}")
        try:
            sft_budget = self.time_budget_s * self.sft_share
            sft = train_sft(
                base,
                sft_examples,
                scratch / "sft",
                epochs=self.sft_epochs,
                learning_rate=self.sft_learning_rate,
                batch_size=self.batch_size,
                max_length=self.max_length,
                seed=self.seed,
                time_budget_s=sft_budget,
                threads=self.threads,
                on_step=progress("SFT"),
            )
            dpo: TrainingResult | None = None
            final = sft.out_dir
            if pairs:
                dpo = train_dpo(
                    sft.out_dir,
                    pairs,
                    scratch / "dpo",
                    beta=self.beta,
                    epochs=self.dpo_epochs,
                    learning_rate=self.dpo_learning_rate,
                    batch_size=self.batch_size,
                    max_length=self.max_length,
                    seed=self.seed,
                    time_budget_s=max(self.time_budget_s - sft.seconds, 1e-3),
                    threads=self.threads,
                    on_step=progress("DPO"),
                )
                final = dpo.out_dir
            metadata = {
                "format": METADATA_FORMAT,
                "version": METADATA_VERSION,
                "base_model": str(base),
                "seed": self.seed,
                "prompt_versions": {SCENE_PROMPT: "v1", RATIONALE_PROMPT: "v1"},
                "answer_prefix": ANSWER_PREFIX,
                "rationale_model": self.rationale_settings.describe(),
                "options": self._options(),
                "train_scenes": len(built),
                "scenes_with_samples": int(np.sum((samples.letters >= 0).any(axis=1))),
                "kept_scenes": len(kept),
                "failed_rationales": self.failed_rationales,
                "unusable_train_scenes": self.unusable_train_scenes,
                "sft_examples": len(sft_examples),
                "dpo_pairs": len(pairs),
                "sft": _stage(sft),
                "dpo": None if dpo is None else _stage(dpo),
                "rationale_usage": rationale_usage.as_dict(),
                "seconds": time.perf_counter() - started,
            }
            _write_json(final / METADATA_FILE, metadata)
            if self.out is not None:  # (else: the empty folder reserved above)
                _check_new_folder("out", out, self.overwrite)
            replace_folder(final, out)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            if self.out is None and out.is_dir() and not any(out.iterdir()):
                out.rmdir()  # the folder reserved under the cache dir, left empty by a failure
        self.checkpoint_dir = out
        self.metadata = metadata
        self._loaded = None
        self._say(f"checkpoint written to {out}")

    def _check_prompt_lengths(self, base: Path, built: Scenes) -> None:
        """Refuse, before any rationale call, a train prompt that leaves less than
        ``rationale_max_tokens`` (plus the JSON around it) of ``max_length`` for the answer."""
        from transformers import AutoTokenizer

        from recoworld.training.dpo import chat_length

        tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
        room = self.max_length - self.rationale_max_tokens - 16
        for s in range(len(built)):
            length = chat_length(tokenizer, self.prompt_messages(built, s))
            if length > room:
                raise ValueError(
                    f"train scene {s}'s prompt is {length} tokens: with rationale_max_tokens="
                    f"{self.rationale_max_tokens} its answer would not fit in max_length="
                    f"{self.max_length}; raise max_length or lower max_history="
                    f"{self.max_history}"
                )

    def _options(self) -> dict[str, Any]:
        return {
            "base_model": None if self.base_model is None else str(self.base_model),
            "train_scenes": self.train_scenes,
            "min_history": self.min_history,
            "n_choices": self.n_choices,
            "negatives": list(self.negatives),
            "max_history": self.max_history,
            "rationales_per_scene": self.rationales_per_scene,
            "rationale_temperature": self.rationale_temperature,
            "rationale_max_tokens": self.rationale_max_tokens,
            "keep_fraction": self.keep_fraction,
            "sft_epochs": self.sft_epochs,
            "dpo_epochs": self.dpo_epochs,
            "sft_learning_rate": self.sft_learning_rate,
            "dpo_learning_rate": self.dpo_learning_rate,
            "beta": self.beta,
            "batch_size": self.batch_size,
            "max_length": self.max_length,
            "time_budget_s": self.time_budget_s,
            "sft_share": self.sft_share,
            "threads": self.threads,
            "score_batch_size": self.score_batch_size,
        }

    # -- saving ------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Copy the checkpoint folder (model, tokenizer, metadata) to the folder ``path``;
        :meth:`load` reads it back. Written to a temporary sibling and renamed into place.

        Raises:
            ValueError: the simulator has no checkpoint yet (call :meth:`fit`), or is an
                :meth:`untrained` one (its base folder is not an aligned checkpoint).
            FileExistsError: ``path`` exists and ``overwrite`` is false.
        """
        if self.checkpoint_dir is None or self.metadata is None:
            raise ValueError(
                "AlignedSceneSimulator.save: no aligned checkpoint to save (call fit first; "
                "an untrained simulator has none)"
            )
        target = Path(path).expanduser()
        _check_new_folder("path", target, overwrite)
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-save-", dir=target.parent))
        try:
            shutil.copytree(self.checkpoint_dir, scratch / "copy")
            replace_folder(scratch / "copy", target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return target

    # -- scoring -----------------------------------------------------------------------------

    def _model(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from recoworld.llm.transformers_backend import load_hf_folder

            assert self.checkpoint_dir is not None
            model, tokenizer = load_hf_folder(self.checkpoint_dir)
            tokenizer.padding_side = "left"
            self._loaded = (model, tokenizer)
        return self._loaded

    def _letter_tokens(self, tokenizer: Any, n_choices: int) -> list[int]:
        """The token id of each letter right after the answer prefix (each must be one
        token, and the prefix's tokens must not change when it is appended)."""
        probe = (
            tokenizer.apply_chat_template(
                [{"role": "user", "content": "?"}], add_generation_prompt=True, tokenize=False
            )
            + ANSWER_PREFIX
        )
        base = tokenizer(probe, add_special_tokens=False)["input_ids"]
        ids = []
        for letter in LETTERS[:n_choices]:
            full = tokenizer(probe + letter, add_special_tokens=False)["input_ids"]
            if len(full) != len(base) + 1 or full[: len(base)] != base:
                raise ValueError(
                    f"model folder {str(self.checkpoint_dir)!r}: its tokenizer does not encode "
                    f"the letter {letter!r} after {ANSWER_PREFIX!r} as one token"
                )
            ids.append(int(full[-1]))
        return ids

    def predict(self, scenes: Scenes) -> np.ndarray:
        """``(n_scenes, n_choices)`` float64: the model's next-token probabilities of the
        listed letters after the answer prefix, renormalised over them (rows sum to 1)."""
        if self.titles is None or self.descriptions is None or self.checkpoint_dir is None:
            raise ValueError("AlignedSceneSimulator.predict: call fit(history, catalog) first")
        check_scenes(scenes, len(self.titles), max_choices=len(LETTERS))
        n, n_choices = len(scenes), scenes.n_choices
        import torch

        from recoworld.torch_threads import torch_threads

        model, tokenizer = self._model()
        letter_ids = torch.tensor(self._letter_tokens(tokenizer, n_choices))
        out = np.empty((n, n_choices), dtype=np.float64)
        texts = [
            tokenizer.apply_chat_template(
                self.prompt_messages(scenes, s), add_generation_prompt=True, tokenize=False
            )
            + ANSWER_PREFIX
            for s in range(n)
        ]
        # Batches of similar lengths waste less on padding; the order depends only on the texts.
        order = np.argsort([len(text) for text in texts], kind="stable")
        with torch_threads(self.threads), torch.inference_mode():
            for start in range(0, n, self.score_batch_size):
                stop = min(start + self.score_batch_size, n)
                rows = order[start:stop]
                began = time.perf_counter()
                batch = tokenizer(
                    [texts[row] for row in rows],
                    return_tensors="pt",
                    padding=True,
                    add_special_tokens=False,
                )
                mask = batch["attention_mask"]
                positions = (mask.cumsum(-1) - 1).clamp(min=0)
                logits = model(
                    input_ids=batch["input_ids"],
                    attention_mask=mask,
                    position_ids=positions,
                    logits_to_keep=1,
                ).logits[:, -1, :]
                chosen = torch.log_softmax(logits.double(), dim=-1)[:, letter_ids]
                out[rows] = torch.softmax(chosen, dim=-1).numpy()
                seconds = time.perf_counter() - began
                self.usage = self.usage + Usage(
                    calls=stop - start,
                    prompt_tokens=int(mask.sum()),
                    latency_s=seconds,
                )
        return out


def read_metadata(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked ``recoworld_aligned.json`` of an aligned checkpoint folder.

    Raises:
        FileNotFoundError, NotADirectoryError: the folder or its metadata file is missing.
        ValueError: the folder holds no model, or the metadata is not JSON, is of another
            format or version, or lacks a field or has one of the wrong type (named).
    """
    from recoworld.llm.transformers_backend import check_hf_folder

    path = Path(folder).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"checkpoint folder {str(path)!r} does not exist")
    file = path / METADATA_FILE
    if path.is_dir() and not file.is_file():
        raise FileNotFoundError(
            f"checkpoint folder {str(path)!r} has no {METADATA_FILE}: not an llm-aligned "
            "checkpoint (use AlignedSceneSimulator.untrained for a plain model folder)"
        )
    check_hf_folder(path)
    try:
        metadata = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"checkpoint {str(file)!r} is not valid JSON: {error}") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"checkpoint {str(file)!r} must hold a JSON object")
    for field, kind in _REQUIRED_FIELDS.items():
        if field not in metadata:
            raise ValueError(f"checkpoint {str(file)!r} lacks the field {field!r}")
        if not isinstance(metadata[field], kind) or isinstance(metadata[field], bool):
            raise ValueError(
                f"checkpoint {str(file)!r}: field {field!r}={metadata[field]!r} has the wrong type"
            )
    if metadata["format"] != METADATA_FORMAT:
        raise ValueError(
            f"checkpoint {str(file)!r}: field 'format'={metadata['format']!r} must be "
            f"{METADATA_FORMAT!r}"
        )
    if metadata["version"] != METADATA_VERSION:
        raise ValueError(
            f"checkpoint {str(file)!r}: field 'version'={metadata['version']!r}; this "
            f"recoworld reads version {METADATA_VERSION}"
        )
    if "max_history" not in metadata["options"]:
        raise ValueError(f"checkpoint {str(file)!r} lacks the field 'options.max_history'")
    return metadata


def _stage(result: Any) -> dict[str, Any]:
    summary = result.as_dict()
    summary.pop("out_dir")
    return summary


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _check_new_folder(name: str, folder: Path, overwrite: bool) -> None:
    """Refuse an existing ``folder`` unless ``overwrite``; even then, only an aligned
    checkpoint (or an empty folder) is replaced, never a folder of other files."""
    check_replaceable(
        folder,
        name=name,
        marker=METADATA_FILE,
        kind="an llm-aligned checkpoint",
        overwrite=overwrite,
    )

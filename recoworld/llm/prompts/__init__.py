"""The library's prompts, as versioned package data: ``<name>.<version>.txt`` in this folder.

A prompt is part of every request it builds, hence of every response-cache key: changing a
prompt's wording means adding a new version file, never editing an existing one, so that cached
runs stay reproducible.

>>> "{more}" in load_prompt("instruction_voice", "v1")
True
>>> sorted(prompt_names())[:2]
['ailo_user', 'chat_recommender']
"""

from __future__ import annotations

from importlib import resources

__all__ = ["load_prompt", "prompt_names", "prompt_versions"]


def _files() -> list[str]:
    return [
        entry.name
        for entry in resources.files(__name__).iterdir()
        if entry.is_file() and entry.name.endswith(".txt")
    ]


def prompt_names() -> set[str]:
    """Names of the packaged prompts (``"llm_user_decide"``, ``"ailo_user"``, ...)."""
    return {name.rsplit(".", 2)[0] for name in _files()}


def prompt_versions(name: str) -> list[str]:
    """The packaged versions of prompt ``name``, sorted (``["v1"]``)."""
    return sorted(f.rsplit(".", 2)[1] for f in _files() if f.rsplit(".", 2)[0] == name)


def load_prompt(name: str, version: str = "v1") -> str:
    """The text of packaged prompt ``name`` at ``version`` (surrounding whitespace stripped).

    Raises:
        ValueError: no such prompt, or no such version of it; the message lists what exists.
    """
    if not isinstance(name, str) or name not in prompt_names():
        raise ValueError(f"no prompt named {name!r}; packaged: {sorted(prompt_names())}")
    if not isinstance(version, str) or version not in prompt_versions(name):
        raise ValueError(
            f"no version {version!r} of prompt {name!r}; packaged: {prompt_versions(name)}"
        )
    path = resources.files(__name__).joinpath(f"{name}.{version}.txt")
    return path.read_text(encoding="utf-8").strip()

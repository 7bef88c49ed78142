"""A Hugging Face model folder as a chat model (``llm="hf:<folder>"``), on a tiny random model."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("transformers")

from tiny_causal_lm import save_tiny_chat_model

from recoworld.llm import LLMSettings, MalformedOutputError, make_chat_model
from recoworld.llm.transformers_backend import TransformersChatModel

HELLO = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return save_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def model(folder: Path) -> TransformersChatModel:
    return TransformersChatModel(folder, max_tokens=8, max_parse_retries=1)


def test_answers_with_real_token_counts(model: TransformersChatModel) -> None:
    response = model.complete(HELLO)
    _, tokenizer = model._model()
    prompt = tokenizer.apply_chat_template(HELLO, add_generation_prompt=True, tokenize=False)
    assert response.usage.calls == 1
    assert response.usage.prompt_tokens == len(tokenizer(prompt)["input_ids"])
    assert 1 <= response.usage.completion_tokens <= 8
    assert response.usage.cost_usd == 0.0 and response.usage.latency_s > 0
    assert model.price_known


def test_greedy_repeats_and_sampling_follows_the_seed(model: TransformersChatModel) -> None:
    assert model.complete(HELLO).text == model.complete(HELLO).text
    first = model.complete(HELLO, temperature=1.5, seed=3).text
    assert model.complete(HELLO, temperature=1.5, seed=3).text == first
    others = {model.complete(HELLO, temperature=1.5, seed=s).text for s in range(4, 9)}
    assert others - {first}  # another seed, another sample


def test_malformed_structured_answer_is_reasked_and_counted(model: TransformersChatModel) -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    with pytest.raises(MalformedOutputError) as caught:
        model.complete(HELLO, schema=schema)  # a random model writes no JSON
    assert caught.value.attempts == 2
    assert caught.value.usage.calls == 2 and caught.value.usage.failed_calls == 2
    assert caught.value.usage.prompt_tokens > 0


def test_hf_model_string_builds_it_everywhere(folder: Path) -> None:
    built = make_chat_model(f"hf:{folder}")
    assert isinstance(built, TransformersChatModel) and built.path == folder.resolve()
    settings = LLMSettings.of({"model": f"hf:{folder}", "token_cap": 100})
    assert settings.build().complete(HELLO, max_tokens=2).usage.calls == 1
    with pytest.raises(ValueError, match="names no folder"):
        LLMSettings.of("hf:")
    with pytest.raises(ValueError, match="input_cost_per_token"):
        make_chat_model(f"hf:{folder}", input_cost_per_token=1.0, output_cost_per_token=1.0)


def test_a_missing_folder_or_one_without_a_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        make_chat_model(f"hf:{tmp_path / 'nothing-here'}")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not a model")
    with pytest.raises(ValueError, match=r"notes.*config\.json"):
        TransformersChatModel(tmp_path / "notes")


def test_cache_name_is_the_resolved_folder_and_a_fingerprint_of_its_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama"}')
    (folder / "model.safetensors").write_bytes(b"weights one")
    monkeypatch.chdir(tmp_path)
    first = TransformersChatModel("model").model_name
    assert first.startswith(f"hf:{folder.resolve()}#")
    # The same folder through another path is the same model; retrained weights are not.
    assert TransformersChatModel(folder).model_name == first
    (folder / "model.safetensors").write_bytes(b"weights two, retrained")
    retrained = TransformersChatModel(folder).model_name
    assert retrained != first
    # An aligned checkpoint's metadata, rewritten by every training run, identifies it.
    (folder / "recoworld_aligned.json").write_text('{"seconds": 1.0}')
    aligned = TransformersChatModel(folder).model_name
    (folder / "recoworld_aligned.json").write_text('{"seconds": 2.0}')
    assert len({first, retrained, aligned, TransformersChatModel(folder).model_name}) == 4
    assert TransformersChatModel(folder, model_name="mine").model_name == "mine"

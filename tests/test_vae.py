"""RatingVAE and MultVAE: the model protocol, fallbacks, persistence, losses, quality."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from recsys_lib.data import Interactions, embedded_path, load_ratings, split_ratings
from recsys_lib.evaluation import evaluate_ranking, evaluate_ratings
from recsys_lib.models import ALS, SVD, BiasBaseline, Popularity
from recsys_lib.models.baseline import Biases
from recsys_lib.models.vae import (
    VAE_KINDS,
    MultVAE,
    MultVAEConfig,
    RatingVAE,
    RatingVAEConfig,
    RunConfig,
    gaussian_kl,
    load_config,
    vae_kind,
)
from recsys_lib.training import ConfigError, count_parameters

TINY = load_config("test_tiny")
MULT_TINY = {"hidden_dims": [16], "latent_dim": 4, "kl_anneal_steps": 10}


@pytest.fixture
def tiny_train(tiny_ratings: pd.DataFrame) -> Interactions:
    return Interactions.from_ratings(tiny_ratings)


@pytest.fixture
def rating_vae(tiny_train: Interactions) -> RatingVAE:
    return RatingVAE(TINY.model_config, TINY.trainer).fit(tiny_train)


@pytest.fixture
def mult_vae(tiny_train: Interactions) -> MultVAE:
    return MultVAE(MULT_TINY, TINY.trainer).fit(tiny_train)


def test_importing_the_models_package_does_not_import_torch():
    code = "import sys, recsys_lib.models; assert 'torch' not in sys.modules, 'torch loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_untrained_rating_vae_predicts_the_bias_baseline(tiny_train):
    model = RatingVAE(TINY.model_config, TINY.trainer)
    network = model._build_network(tiny_train).eval()
    rows = np.repeat(np.arange(tiny_train.n_users), 3)
    cols = np.tile([0, 5, 9], tiny_train.n_users)
    with torch.no_grad():
        predicted, _, _ = network(torch.from_numpy(rows), torch.from_numpy(cols))
    expected = Biases.fit(tiny_train.user_items).predict(rows, cols)
    np.testing.assert_allclose(predicted.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_fixed_biases_stay_at_the_baseline_while_the_residual_learns(tiny_train):
    config = {**TINY.model_config.to_dict(), "fixed_biases": True}
    model = RatingVAE(config, TINY.trainer).fit(tiny_train)
    biases = Biases.fit(tiny_train.user_items)
    network = model.network_
    np.testing.assert_allclose(network.user_bias.weight.detach().numpy()[:, 0], biases.user,
                               rtol=1e-6)
    assert float(network.global_bias.detach()) == pytest.approx(biases.mean)
    learned = RatingVAE(TINY.model_config, TINY.trainer).fit(tiny_train).network_
    assert not np.allclose(learned.user_bias.weight.detach().numpy()[:, 0], biases.user)
    assert network.decoder[-1].weight.abs().sum() > 0  # the residual did train
    with pytest.raises(ValueError, match="fixed_biases needs init_biases"):
        RatingVAEConfig(fixed_biases=True, init_biases=False)


def test_dot_skip_adds_the_embeddings_dot_product_and_embedding_l2_its_penalty(tiny_train):
    config = {**TINY.model_config.to_dict(), "dot_skip": True, "embedding_l2": 0.5}
    model = RatingVAE(config, TINY.trainer)
    network = model._build_network(tiny_train).eval()
    users, items = torch.tensor([0, 1]), torch.tensor([2, 3])
    with torch.no_grad():
        predicted, _, _ = network(users, items)
        expected = network.biases(users, items) + (
            network.user_factors(users) * network.item_factors(items)).sum(1)
    np.testing.assert_allclose(predicted.numpy(), expected.numpy(),
                               rtol=1e-5, atol=1e-6)  # the zeroed decoder adds nothing yet
    out = model._loss(network, (users, items, torch.tensor([4.0, 3.0])), step=0)
    penalty = (network.user_factors(users).pow(2).sum(1)
               + network.item_factors(items).pow(2).sum(1)).mean()
    assert float(out.parts["embedding_l2"].detach()) == pytest.approx(float(penalty.detach()),
                                                                rel=1e-5)
    plain = RatingVAE(TINY.model_config, TINY.trainer)._loss(
        network, (users, items, torch.tensor([4.0, 3.0])), step=0)
    assert "embedding_l2" not in plain.parts


def test_rating_vae_predicts_on_the_training_scale_deterministically(rating_vae, tiny_ratings,
                                                                     tiny_train):
    users, items = tiny_ratings["user_id"].to_numpy(), tiny_ratings["item_id"].to_numpy()
    predicted = rating_vae.predict(users, items)
    assert predicted.dtype == np.float32 and predicted.shape == users.shape
    assert predicted.min() >= tiny_ratings["rating"].min()
    assert predicted.max() <= tiny_ratings["rating"].max()
    again = RatingVAE(TINY.model_config, TINY.trainer).fit(tiny_train)
    np.testing.assert_array_equal(again.predict(users, items), predicted)
    assert rating_vae.history_["epoch"].tolist() == [1, 2]
    assert {"recon_loss", "kl", "kl_weight", "rss_mb"} <= set(rating_vae.history_.columns)


def test_unknown_users_and_items_fall_back_to_the_bias_terms(rating_vae, tiny_train):
    network = rating_vae.network_
    mean = network.global_bias.item()
    user_bias = network.user_bias.weight[0, 0].item()
    item_bias = network.item_bias.weight[2, 0].item()
    known_user, known_item = tiny_train.user_ids[0], tiny_train.item_ids[2]
    predicted = rating_vae.predict(np.array([999, known_user, 999]),
                                   np.array([known_item, 999_999, 999_999]))
    low, high = (float(v) for v in network.rating_range)
    expected = np.clip([mean + item_bias, mean + user_bias, mean], low, high)
    np.testing.assert_allclose(predicted, expected, rtol=1e-6)
    assert rating_vae.fallback_counts["predict_unknown_user"] == 2
    assert rating_vae.fallback_counts["predict_unknown_item"] == 2


def test_rating_vae_recommends_its_highest_predicted_unseen_items(rating_vae, tiny_train):
    user = tiny_train.user_ids[3]
    items, scores = rating_vae.recommend(np.array([user]), k=5)
    seen = tiny_train.item_ids[tiny_train.user_items[3].indices]
    unseen = np.setdiff1d(tiny_train.item_ids, seen)
    predicted = rating_vae.predict(np.full(len(unseen), user), unseen)
    assert items.dtype == np.int32 and items.shape == (1, 5)
    assert not set(items[0]) & set(seen)
    low, high = rating_vae.network_.rating_range.tolist()  # scores rank before clamping
    np.testing.assert_allclose(np.clip(scores[0], low, high), np.sort(predicted)[::-1][:5],
                               rtol=1e-6)


@pytest.mark.parametrize("fixture", ["rating_vae", "mult_vae"])
def test_save_and_load_give_the_same_recommendations(fixture, request, tmp_path, tiny_train):
    model = request.getfixturevalue(fixture)
    path = model.save(tmp_path / "model")
    with np.load(path, allow_pickle=False) as archive:  # plain arrays, no pickle
        assert any(key.startswith("net.") for key in archive.files)
    loaded = type(model).load(path)
    users = tiny_train.user_ids[:6]
    for a, b in zip(model.recommend(users, k=4), loaded.recommend(users, k=4), strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded.get_params() == model.get_params()


def test_mult_vae_ranks_only_and_excludes_seen_items(mult_vae, tiny_train):
    with pytest.raises(TypeError, match="ranks items"):
        mult_vae.predict(tiny_train.user_ids[:1], tiny_train.item_ids[:1])
    items, _ = mult_vae.recommend(tiny_train.user_ids, k=3)
    for row, recommended in enumerate(items):
        seen = set(tiny_train.item_ids[tiny_train.user_items[row].indices])
        assert not seen & set(recommended)


def test_mult_vae_validation_monitors_ndcg(tiny_ratings):
    split = split_ratings(tiny_ratings, "random", test_fraction=0.2, seed=0)
    train = Interactions.from_ratings(split.train)
    validation = Interactions.from_ratings(split.test)
    model = MultVAE({**MULT_TINY, "top_k": 5}, TINY.trainer).fit(train, validation)
    values = model.history_["val_ndcg@5"]
    assert ((values >= 0) & (values <= 1)).all()
    assert model.result_.best_metric == values.max()


def test_gaussian_kl_by_hand():
    zero = torch.zeros(2, 2)
    assert float(gaussian_kl(zero, zero)) == 0.0
    mu = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # KL per dimension: 0.5 and 0
    assert float(gaussian_kl(mu, zero)) == pytest.approx(0.5)
    assert float(gaussian_kl(mu, zero, free_bits=0.2)) == pytest.approx(0.5 + 0.2)


def test_plan_counts_the_network_that_fit_builds(rating_vae, tiny_train):
    plan = rating_vae.plan(tiny_train)
    assert plan.n_params == count_parameters(rating_vae.network_)
    assert plan.verdict == "fits"


def test_the_fit_estimate_reads_the_models_own_settings_by_hand():
    # MultVAE 30 -> 8 -> 4 -> 8 -> 30: 248 + 36 + 36 + 40 + 270 = 630 parameters, each with
    # weight, gradient and two Adam moments (16 bytes); activations 3 x 4 x (30 + 8 + 12 +
    # 8 + 30) + 2 x 4 x 30 = 1,296 bytes per sample x micro-batch 32; data: float32 values
    # and int32 columns of 100 interactions plus 11 int32 row pointers
    model = MultVAE({"hidden_dims": [8], "latent_dim": 4},
                    {"batch_size": 32, "mixed_precision": "off", "device": "cpu"})
    assert model.estimate_fit_bytes(10, 30, 100) == 630 * 16 + 1_296 * 32 + 800 + 44
    assert MultVAE.estimate_fit_bytes(10, 30, 100) == MultVAE().estimate_fit_bytes(10, 30, 100)


@pytest.mark.parametrize("kind", [MultVAE, RatingVAE])
def test_a_bigger_configured_model_estimates_more_and_plan_agrees(kind, tiny_train):
    trainer = {"device": "cpu", "batch_size": 256}
    default, bigger = kind(None, trainer), kind({"hidden_dims": [2000]}, {**trainer,
                                                                        "batch_size": 4096})
    sizes = (tiny_train.n_users, tiny_train.n_items, tiny_train.nnz)
    assert bigger.estimate_fit_bytes(*sizes) > default.estimate_fit_bytes(*sizes)
    for model in (default, bigger):
        plan = model.plan(tiny_train, available_bytes=2**40)
        assert plan.estimate_bytes == model.estimate_fit_bytes(*sizes)
        assert plan.estimate_mb == plan.estimate_bytes / 2**20
        assert plan.data_mb * 2**20 == model._data_bytes(tiny_train.n_users, tiny_train.nnz) > 0


def test_constructor_checks_config_keys():
    with pytest.raises(ValueError, match="'n_factor' \\(did you mean 'n_factors'"):
        RatingVAE({"n_factor": 3})


@pytest.fixture(scope="module")
def movielens_split():
    split = split_ratings(load_ratings(embedded_path()), "random", test_fraction=0.2, seed=42)
    train = Interactions.from_ratings(split.train)
    return split, train


@pytest.mark.slow
def test_rating_vae_beats_the_bias_baseline_on_held_out_ratings(movielens_split):
    split, train = movielens_split
    fit = split_ratings(split.train, "random", test_fraction=0.1, seed=1)
    run = load_config("cpu_quick", overrides={"epochs": 8, "max_minutes": None})
    model = run.build().fit(Interactions.from_ratings(fit.train),
                            Interactions.from_ratings(fit.test))
    baseline = BiasBaseline().fit(train)
    assert (evaluate_ratings(model, split.test)["rmse"]
            < evaluate_ratings(baseline, split.test)["rmse"])


@pytest.mark.slow
def test_mult_vae_beats_popularity_on_held_out_items(movielens_split):
    split, train = movielens_split
    run = load_config("mult_vae_quick", overrides={"epochs": 5, "max_minutes": None})
    vae, popular = run.build().fit(train), Popularity().fit(train)
    assert (evaluate_ranking(vae, train, split.test)["ndcg@10"]
            > evaluate_ranking(popular, train, split.test)["ndcg@10"])


@pytest.mark.parametrize(("values", "threshold"), [("binary", None), ("rating", 3.0)])
def test_mult_vae_inputs_are_counted_interactions(tiny_train, values, threshold):
    model = MultVAE({**MULT_TINY, "input_values": values, "positive_threshold": threshold},
                    TINY.trainer).fit(tiny_train)
    inputs = model._input_matrix().toarray()
    ratings = tiny_train.user_items.toarray()
    kept = ratings >= (threshold or 0.5)
    expected = np.where(kept, ratings if values == "rating" else 1.0, 0.0)
    np.testing.assert_array_equal(inputs, expected)


def test_the_registry_holds_each_kind_once_with_its_classes_config_and_yardsticks():
    expected = {"rating_vae": ("RatingVAE", RatingVAE, RatingVAEConfig, "cpu_quick"),
                "mult_vae": ("MultVAE", MultVAE, MultVAEConfig, "mult_vae_quick")}
    assert {key: (kind.name, kind.model_class, kind.config_class, kind.default_config)
            for key, kind in VAE_KINDS.items()} == expected
    for key, kind in VAE_KINDS.items():
        assert kind.key == key and vae_kind(key) is kind
        run = load_config(kind.default_config)
        assert run.model == key and run.kind is kind
        model = RunConfig.from_dict({"model": key}).build()
        assert type(model) is kind.model_class and type(model.config) is kind.config_class
    rating = VAE_KINDS["rating_vae"].yardsticks(7)
    assert list(rating) == ["BiasBaseline", "SVD"] and type(rating["BiasBaseline"]) is BiasBaseline
    assert type(rating["SVD"]) is SVD
    ranking = VAE_KINDS["mult_vae"].yardsticks(7)
    assert {name: type(model) for name, model in ranking.items()} == {"Popularity": Popularity,
                                                                      "ALS": ALS}
    assert ranking["ALS"].get_params()["seed"] == 7
    assert VAE_KINDS["mult_vae"].yardsticks(7)["ALS"] is not ranking["ALS"]  # fresh models


def test_an_unknown_kind_names_the_known_ones():
    with pytest.raises(ConfigError, match=r"must be one of rating_vae, mult_vae; got "
                                          r"'ratingvae' \(did you mean 'rating_vae'\?\)"):
        vae_kind("ratingvae")


@pytest.mark.parametrize(("first_bad_step", "epochs_done"), [(0, 0), (4, 1)])
def test_a_diverged_vae_says_so_and_keeps_the_history_of_its_finished_epochs(
        tiny_train, first_bad_step, epochs_done):
    model = RatingVAE(TINY.model_config, TINY.trainer.with_overrides(
        {"epochs": 3, "bad_steps_halve_lr": 2, "bad_steps_stop": 2}))
    loss = model._loss  # 200 ratings, batch 64: 4 steps per epoch

    def poisoned(network, batch, step):
        out = loss(network, batch, step)
        return out if step < first_bad_step else type(out)(out.loss * float("nan"), out.parts)

    model._loss = poisoned
    model.fit(tiny_train)
    assert model.result_.stop_reason == "diverged"
    assert "diverged: 2 NaN/Inf steps in a row" in model.result_.message
    history = model.history_
    assert isinstance(history, pd.DataFrame) and len(history) == epochs_done
    assert {"epoch", "train_loss", "lr", "rss_mb"} <= set(history.columns)
    assert np.isfinite(model.predict(tiny_train.user_ids[:3], tiny_train.item_ids[:3])).all()

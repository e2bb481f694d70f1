"""Embedding projection and the grouping measurements, on made-up vectors and on the shipped model."""

import numpy as np
import pytest

from gptviz import embeddings as E


def clusters(seed=0, per_group=6, dim=16):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, dim)) * 5
    vectors = np.concatenate([c + rng.normal(size=(per_group, dim)) for c in centres])
    return vectors, ["x"] * per_group + ["y"] * per_group + ["z"] * per_group


def test_projection_is_the_top_principal_directions():
    vectors, _ = clusters()
    projection = E.project(vectors, k=2)
    assert projection.coords.shape == (len(vectors), 2)
    assert 0 < projection.explained[1] <= projection.explained[0] < 1
    _, s, vh = np.linalg.svd(vectors - vectors.mean(0), full_matrices=False)
    assert np.allclose(np.abs(projection.coords), np.abs((vectors - vectors.mean(0)) @ vh[:2].T))
    torch_dirs = E.pca_lowrank_check(vectors, k=2)  # torch.pca_lowrank finds the same directions
    assert np.allclose(np.abs(np.sum(torch_dirs * vh[:2], axis=1)), 1.0, atol=1e-6)


def test_grouping_measures_on_clear_clusters_and_on_noise():
    vectors, labels = clusters()
    assert E.neighbour_agreement(vectors, labels)[0] == 1.0
    accuracy, chance = E.centroid_accuracy(vectors, labels)
    assert accuracy == 1.0 and chance == pytest.approx(1 / 3)
    cohesion = E.group_cohesion(vectors, labels)
    assert all(within > between for within, between in cohesion.values())
    noise = np.random.default_rng(1).normal(size=vectors.shape)
    assert E.centroid_accuracy(noise, labels)[0] < 0.75


def test_case_offsets_align_when_capitals_share_a_direction():
    rng = np.random.default_rng(0)
    chars = list("abcdefgh") + list("ABCDEFGH")
    lower = rng.normal(size=(8, 12))
    vectors = np.concatenate([lower, lower + 3.0 * np.eye(12)[0]])  # capital = lowercase + one direction
    aligned, unrelated = E.case_offset_alignment(vectors, chars)
    assert aligned == pytest.approx(1.0) and abs(unrelated) < 0.5


def test_char_groups_and_neighbours():
    assert E.char_groups("aT3 ,z\n") == ["vowels", "capitals", "digits", "whitespace", "punctuation",
                                         "consonants", "whitespace"]
    vectors = np.array([[1.0, 0], [0.9, 0.1], [0, 1.0]])
    assert [c for c, _ in E.nearest_characters(vectors, "abc", "a", 2)] == ["b", "c"]


@pytest.mark.parametrize("call, name", [
    (lambda: E.project(np.zeros((1, 3))), "vectors"),
    (lambda: E.project(np.ones((4, 3)), k=5), "k"),
    (lambda: E.char_group("ab"), "char"),
    (lambda: E.neighbour_agreement(np.ones((3, 2)), ["a"]), "labels"),
    (lambda: E.nearest_characters(np.ones((3, 2)), "abc", "q"), "char"),
])
def test_bad_arguments_are_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_shipped_embeddings_group_by_kind(pretrained):
    model, tok = pretrained
    vectors, groups = E.embedding_matrix(model), E.char_groups(tok.chars)
    accuracy, chance = E.centroid_accuracy(vectors, groups)
    assert accuracy > chance + 0.25
    aligned, unrelated = E.case_offset_alignment(vectors, tok.chars)
    assert aligned > unrelated + 0.15


# --- the frequency direction (chapter 01): measured on the shipped model, refuted on an untrained one --------------

def frequency_claims_hold(found) -> bool:
    """The chapter's check: baseline scores track log-frequency, and removing the shared direction hurts."""
    return found.mean_logit_r > 0.8 and found.kl_to_unigram < 0.6 and found.loss_without_shared > found.loss + 0.4


@pytest.fixture(scope="module")
def windows_and_frequency(pretrained):
    import gptviz
    from gptviz.heads import text_windows

    _, tok = pretrained
    corpus = gptviz.load_corpus()
    return text_windows(corpus.val_text, tok, 4, 128, 0), E.log_frequency(corpus.train_text, tok.chars)


def test_frequency_direction_holds_for_the_shipped_model(pretrained, windows_and_frequency):
    model, _ = pretrained
    ids, log_freq = windows_and_frequency
    found = E.frequency_direction(model, ids, log_freq)
    assert frequency_claims_hold(found), found
    assert abs(found.pc1_r) > 0.9 and found.pc1_cos > 0.3


def test_frequency_direction_check_fails_on_an_untrained_model(pretrained, windows_and_frequency):
    import torch

    import gptviz

    model, _ = pretrained
    ids, log_freq = windows_and_frequency
    torch.manual_seed(0)
    untrained = gptviz.GPT(model.config).eval()
    found = E.frequency_direction(untrained, ids, log_freq)
    assert not frequency_claims_hold(found), found
    assert abs(found.mean_logit_r) < 0.5
    shuffled = E.frequency_direction(model, ids, np.random.default_rng(0).permutation(log_freq))
    assert shuffled.mean_logit_r < 0.5  # the frequencies of other characters do not fit


def test_frequency_direction_refuses_an_untied_model(tiny_model):
    import torch

    untied = torch.nn.Linear(tiny_model.config.n_embd, tiny_model.config.vocab_size, bias=False)
    tiny_model.lm_head = untied
    with pytest.raises(ValueError, match="tie"):
        E.frequency_direction(tiny_model, torch.zeros(1, 4, dtype=torch.long), np.zeros(tiny_model.config.vocab_size))


def test_log_frequency_and_unigram():
    assert np.allclose(E.log_frequency("aab", "abc"), np.log([3, 2, 1]))
    assert np.allclose(E.unigram_probs("aab", "abc"), [0.5, 1 / 3, 1 / 6])


def test_neighbour_table_lists_the_nearest_by_cosine():
    vectors = np.array([[1.0, 0], [0.9, 0.1], [0, 1.0], [-1.0, 0]])
    rows = E.neighbour_table(vectors, "abcd", "ac", k=2)
    assert [q for q, _ in rows] == ["a", "c"]
    assert [c for c, _ in rows[0][1]] == ["b", "c"] and rows[0][1][0][1] == pytest.approx(0.9 / np.hypot(0.9, 0.1))


def test_spread_labels_separates_a_crowd_and_stays_near_it():
    from gptviz.plots.embeddings import spread_labels

    rng = np.random.default_rng(0)
    crowd = np.vstack([rng.normal(scale=0.01, size=(12, 2)), [[1.0, 1.0], [0.0, 1.0]]])  # 12 labels on one spot
    placed = spread_labels(crowd)
    unit = (placed - crowd.min(0)) / np.ptp(crowd, 0)
    gaps = np.linalg.norm(unit[:, None] - unit[None], axis=-1) + np.eye(len(unit))
    assert gaps.min() > 0.04  # was about 0.01
    assert np.abs(placed[12:] - crowd[12:]).max() < 0.05  # a lone label stays on its point
    assert np.array_equal(placed, spread_labels(crowd))  # the same picture every time


def test_only_the_rows_looked_up_get_a_gradient():
    table = np.random.default_rng(0).normal(size=(10, 4))
    assert E.rows_with_gradient(table, [3, 1, 3, 7]) == [1, 3, 7]


def test_the_chapter_grouping_checks_fail_on_an_untrained_table(pretrained):
    import torch

    import gptviz

    model, tok = pretrained
    torch.manual_seed(0)
    vectors = E.embedding_matrix(gptviz.GPT(model.config))
    groups = E.char_groups(tok.chars)
    letters = "abcdefghijklmnopqrstuvwxyz"
    partners = sum(E.nearest_characters(vectors, tok.chars, c, 1)[0][0] == c.upper() for c in letters)
    accuracy, chance = E.centroid_accuracy(vectors, groups)
    aligned, unrelated = E.case_offset_alignment(vectors, tok.chars)
    assert partners < 18 and not accuracy > chance + 0.25 and not aligned > unrelated + 0.15
    trained = E.embedding_matrix(model)  # and they hold for the shipped one
    assert sum(E.nearest_characters(trained, tok.chars, c, 1)[0][0] == c.upper() for c in letters) >= 18

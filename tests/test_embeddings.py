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

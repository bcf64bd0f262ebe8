"""Forgiving title lookup."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys_lib.runs.titles import (
    AmbiguousTitleError,
    UnknownTitleError,
    find_movie,
    normalise_title,
)

MOVIES = pd.DataFrame({
    "item_id": [1, 2, 3, 4, 5],
    "title": ["Toy Story (1995)", "Toy Story 2 (1999)", "Matrix, The (1999)",
              "Heat (1995)", "Heat (1972)"],
})


@pytest.mark.parametrize(
    ("query", "item"),
    [("Toy Story (1995)", 1), ("toy story", 1), ("TOY STORY 2", 2), ("the matrix", 3),
     ("Matrix", 3), ("4", 4), ("  toy   story!  ", 1)],
)
def test_a_title_finds_its_movie(query, item):
    assert find_movie(MOVIES, query) == item


def test_an_ambiguous_title_lists_the_candidates_with_ids():
    with pytest.raises(AmbiguousTitleError, match=r"'heat' matches 2 movies.*Heat \(1995\) "
                                                  r"\(id 4\); Heat \(1972\) \(id 5\)"):
        find_movie(MOVIES, "heat")
    assert find_movie(MOVIES, "Heat (1972)") == 5


def test_an_unknown_title_suggests_close_ones():
    with pytest.raises(UnknownTitleError, match=r"no movie title matches 'Tox Stroy'; did you "
                                                r"mean: Toy Story \(1995\)"):
        find_movie(MOVIES, "Tox Stroy")


def test_normalise_moves_the_article_and_drops_the_year():
    assert normalise_title("Matrix, The (1999)") == "the matrix"
    assert normalise_title("Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)") == (
        "amélie fabuleux destin d amélie poulain le")

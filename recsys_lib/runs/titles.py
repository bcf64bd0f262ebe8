"""Forgiving movie-title lookup: "toy story", "Toy Story (1995)" and "Matrix, The" all
find their movie; several matches are listed for the user to choose from."""

from __future__ import annotations

import difflib
import re

import pandas as pd

__all__ = ["AmbiguousTitleError", "UnknownTitleError", "find_movie", "normalise_title"]

_YEAR = re.compile(r"\s*\(\d{4}(?:[-–]\d{0,4})?\)\s*$")
_TRAILING_ARTICLE = re.compile(r"^(?P<rest>.*),\s*(?P<article>the|a|an|les|la|le|il|el|der|die|"
                               r"das)$")
_NOT_WORD = re.compile(r"[^\w]+")
#: Candidates listed when a title is ambiguous or unknown.
MAX_CANDIDATES = 10


class AmbiguousTitleError(ValueError):
    """A title matches several movies; the message lists them with their ids."""


class UnknownTitleError(ValueError):
    """No title matches; the message suggests the closest ones."""


def normalise_title(title: str) -> str:
    """Lower case, the release year dropped, a trailing article moved to the front
    ("Matrix, The (1999)" -> "the matrix"), punctuation as single spaces."""
    text = _YEAR.sub("", str(title)).strip().lower()
    moved = _TRAILING_ARTICLE.match(text)
    if moved:
        text = f"{moved['article']} {moved['rest']}"
    return " ".join(_NOT_WORD.sub(" ", text).split())


def find_movie(movies: pd.DataFrame, query: str) -> int:
    """The item id of the one movie `query` names.

    Tried in order, the first that singles out one movie wins: an item id; the exact title
    (case ignored); the title without its year ("toy story" is "Toy Story (1995)", not
    "Toy Story 2"); the query's words inside one title only.

    Args:
        movies: frame with item_id and title.
        query: a title, part of one, or an item id.

    Raises:
        AmbiguousTitleError: several movies match (the candidates listed, with ids).
        UnknownTitleError: nothing matches (the closest titles suggested).
    """
    titles = movies["title"].astype(str)
    query = str(query).strip()
    if query.isdigit() and (movies["item_id"] == int(query)).any():
        return int(query)
    normalised = titles.map(normalise_title)
    wanted = normalise_title(query)
    steps = (
        titles.str.lower() == query.lower(),
        normalised == wanted,
        normalised.map(lambda title: f" {wanted} " in f" {title} ") if wanted else None,
    )
    for step in steps:
        if step is None or not step.any():
            continue
        matches = movies.loc[step.to_numpy()]
        if len(matches) == 1:
            return int(matches["item_id"].iloc[0])
        raise AmbiguousTitleError(
            f"{query!r} matches {len(matches)} movies; name one by its full title or id: "
            + _listing(matches)
        )
    close = difflib.get_close_matches(wanted, normalised.tolist(), n=5, cutoff=0.5)
    suggestions = movies.loc[normalised.isin(close).to_numpy()]
    hint = f"; did you mean: {_listing(suggestions)}" if len(suggestions) else ""
    raise UnknownTitleError(f"no movie title matches {query!r}{hint}")


def _listing(matches: pd.DataFrame) -> str:
    shown = [f"{title} (id {item})" for item, title in
             zip(matches["item_id"].head(MAX_CANDIDATES), matches["title"].head(MAX_CANDIDATES),
                 strict=True)]
    more = f", and {len(matches) - MAX_CANDIDATES} more" if len(matches) > MAX_CANDIDATES else ""
    return "; ".join(shown) + more

"""Every model class by name, imported on first use, and `load_model` for any saved file.

A saved model names its class in the file's `_meta`; `load_model` looks the name up here
(torch models included, imported only when such a file is loaded) and calls that class's
`load`. Adding a model is one entry in `MODEL_CLASSES`.
"""

from __future__ import annotations

import importlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from recsys_lib.models.base import Recommender

__all__ = ["MODEL_CLASSES", "load_model", "model_class", "saved_class_name"]

logger = logging.getLogger(__name__)

#: Class name -> "module:Class" (imported on use: the VAEs import torch).
MODEL_CLASSES: dict[str, str] = {
    "ALS": "recsys_lib.models.als:ALS",
    "BiasBaseline": "recsys_lib.models.baseline:BiasBaseline",
    "Blend": "recsys_lib.models.blend:Blend",
    "EASE": "recsys_lib.models.ease:EASE",
    "ItemKNN": "recsys_lib.models.knn:ItemKNN",
    "Popularity": "recsys_lib.models.popularity:Popularity",
    "SVD": "recsys_lib.models.svd:SVD",
    "UserKNN": "recsys_lib.models.knn:UserKNN",
    "MultVAE": "recsys_lib.models.vae.mult:MultVAE",
    "RatingVAE": "recsys_lib.models.vae.rating:RatingVAE",
}


def model_class(name: str) -> type[Recommender]:
    """The model class called `name`: a `MODEL_CLASSES` entry, else an imported
    `Recommender` subclass of that name (a model defined in the user's own code).

    Raises:
        KeyError: no model class has that name (the known ones listed).
    """
    if name in MODEL_CLASSES:
        module, _, attribute = MODEL_CLASSES[name].partition(":")
        return getattr(importlib.import_module(module), attribute)
    for subclass in _subclasses(Recommender):
        if subclass.__name__ == name:
            return subclass
    raise KeyError(f"no model class named {name!r}; known: {', '.join(MODEL_CLASSES)}")


def saved_class_name(path: str | Path) -> str:
    """The class name a saved model file records (read without loading its arrays).

    Raises:
        ValueError: the file is missing or not a recsys_lib model file.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["_meta"]))
        return str(meta["class"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a readable recsys_lib model file: {error}") from error


def load_model(path: str | Path) -> Recommender:
    """Load any model written by `Recommender.save`, whatever its class.

    Raises:
        ValueError: the file is not a recsys_lib model file, or names an unknown class.
    """
    name = saved_class_name(path)
    try:
        cls = model_class(name)
    except KeyError as error:
        raise ValueError(f"{path}: {error.args[0]}") from None
    logger.debug("loading %s from %s", name, path)
    return cls.load(path)


def _subclasses(cls: type[Any]) -> list[type[Any]]:
    found = []
    for subclass in cls.__subclasses__():
        found += [subclass, *_subclasses(subclass)]
    return found

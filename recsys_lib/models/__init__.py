"""Recommender models sharing one protocol (see `recsys_lib.models.base.Recommender`).

Torch models live in `recsys_lib.models.vae` and are not imported here, so importing this
package stays light.
"""

from recsys_lib.models.base import NotFittedError, Recommender

__all__ = ["NotFittedError", "Recommender"]

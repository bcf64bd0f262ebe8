"""recsys_lib: memory-lean recommender training on MovieLens.

Importing the package is cheap: torch is imported only by the modules that train or run
torch models, and nothing runs at import time.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

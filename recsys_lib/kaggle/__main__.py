"""`python -m recsys_lib.kaggle build ...`: see `recsys_lib.kaggle.command`."""

from recsys_lib.kaggle.command import main

raise SystemExit(main())

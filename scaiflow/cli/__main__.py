"""`python -m scaiflow.cli`: the same as the `scaiflow` console script."""

import sys

from scaiflow.cli.main import main

sys.exit(main())

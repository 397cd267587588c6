"""`python -m serve.cli`: the `docent` command (the tests and benchmarks run it this way)."""

import sys

from serve.cli import main

sys.exit(main())

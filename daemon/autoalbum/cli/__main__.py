"""`python -m autoalbum.cli`, as the tests and benches run it."""

import sys

from autoalbum.cli import main

sys.exit(main())

"""`python -m tui` is the `tui` command."""

import sys

from tui.cli import main

sys.exit(main())

"""`python -m core.engine` runs the engine in the foreground (core.engine.startup.main)."""

import sys

from core.engine.startup import main

sys.exit(main())

"""`python -m core.engine` runs the engine in the foreground (core.engine.server.main)."""

import sys

from core.engine.server import main

sys.exit(main())

"""`python -m bot` is the `dropsafe` command."""

import sys

from bot.cli import main

sys.exit(main())

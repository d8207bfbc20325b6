"""``python -m util.cost`` (make cost): the per-1M table, the monthly bill and the bot-time table."""

import sys

from util.cost.cli import main

sys.exit(main())

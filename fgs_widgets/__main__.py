"""``python -m fgs_widgets``: the command line (`fgs_widgets.cli`)."""

import sys

from .cli import main

sys.exit(main())

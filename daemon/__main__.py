"""`python -m tagd.daemon` is the `tagd` command."""

import sys

from tagd.daemon.cli import main

sys.exit(main())

"""`python -m rnnvoice.clients.cli`: the `rnnvoice` command."""

import sys

from rnnvoice.clients.cli import main

sys.exit(main())

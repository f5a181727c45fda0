"""`python -m smolpix_client` is the `smolpix` command."""

import sys

from smolpix_client.cli import main

sys.exit(main())

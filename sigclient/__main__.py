"""``python -m sigclient``."""

from __future__ import annotations

import sys

from sigclient.cli import main

sys.exit(main())

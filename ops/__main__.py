"""``python -m ops start|stop|status``: the same as ``python -m ops.services``."""

from __future__ import annotations

import sys

from ops.services import main

sys.exit(main())

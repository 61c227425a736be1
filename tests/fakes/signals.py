"""Child processes that Ctrl+C can reach."""

from __future__ import annotations

import signal


def interruptible() -> None:
    """``preexec_fn`` for a child that a test interrupts: SIGINT back to its default.

    A suite started as a background job inherits SIGINT ignored, and so would the child: Python
    then installs no handler and the signal would do nothing.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)

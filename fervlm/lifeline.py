"""Worker processes that exit when the process they work for dies.

`fervlm prepare` renders in a process pool whose workers are forked by a fork server, not by the
main process. When the main process is killed (an out-of-memory kill, ``kill -9``, a closed
terminal's SIGKILL) nobody tells the workers: they finish their chunk, writing images for a cache
nobody indexes, and then wait forever on their task queue. :func:`exit_with` makes a worker follow
its main process: Linux's parent-death signal covers the worker's direct parent, and a small
watchdog thread covers the main process itself (on any platform).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from pathlib import Path

__all__ = ["exit_with", "is_alive"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def is_alive(pid: int) -> bool:
    """Whether process ``pid`` runs; a killed process its parent has not reaped yet (a zombie) is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): trust kill()
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def _watch(pid: int, poll_s: float) -> None:
    while is_alive(pid):
        time.sleep(poll_s)
    os._exit(1)  # no cleanup: the work is for a process that is gone


def exit_with(pid: int, poll_s: float = 0.2) -> None:
    """Make the calling process exit as soon as process ``pid`` is gone.

    Args:
        pid: the process this one works for (the main process of a job).
        poll_s: watchdog period in seconds.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl: the watchdog alone
    if not is_alive(pid):  # died before we were ready
        os._exit(1)
    threading.Thread(target=_watch, args=(pid, poll_s), daemon=True, name="fervlm-exit-with").start()

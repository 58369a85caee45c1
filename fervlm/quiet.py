"""Quiet notebook execution: the papermill engine `fervlm sweep` (and so `make demo`) runs notebooks with.

A plain ``papermill.execute_notebook`` prints two warnings per notebook that a newcomer reads as faults, and
both are *right* about what they see, so they are removed where they arise, not by hiding stderr:

* ``Kernel is running over TCP without encryption`` — ipykernel warns because jupyter_client starts kernels
  on plain TCP sockets by default. Our kernels are local child processes, so they talk over IPC sockets
  (Unix domain sockets in the Jupyter runtime folder, nothing listens on the network); where IPC does not
  exist (Windows), or the runtime folder is too deep for a socket path, the kernel manager provisions
  CurveZMQ keys instead (``transport_encryption="auto"``, honoured by kernels that declare Curve support, as
  ipykernel does).
* ``No handler found for comm target 'dash'`` — importing open3d imports its plotly/Dash viewer, and Dash,
  finding itself in a kernel, opens a comm to announce itself to the notebook front end. papermill's client
  is a headless front end that only knows widget comms; ours also accepts Dash's announcement and ignores it
  (there is no browser to show a Dash app in).
"""

from __future__ import annotations

import functools
import os
from typing import Any

ENGINE = "fervlm"


def _ipc_path_fits() -> bool:
    """Whether IPC socket paths (``<runtime dir>/kernel-<uuid>-ipc-<n>``) fit the ~107-byte Unix socket
    limit; a very deep runtime folder falls back to Curve-encrypted TCP."""
    from jupyter_core.paths import jupyter_runtime_dir

    return len(os.fsencode(jupyter_runtime_dir())) + len("/kernel--ipc-99999") + 36 < 104


@functools.cache
def _engine() -> type:
    """The papermill engine class (built on first use: papermill and nbclient are optional extras)."""
    from jupyter_client.manager import AsyncKernelManager
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine
    from papermill.utils import merge_kwargs, remove_args
    from traitlets import CaselessStrEnum, Type

    ipc = os.name == "posix" and _ipc_path_fits()

    class LocalKernelManager(AsyncKernelManager):
        """A kernel reached over IPC sockets (POSIX) or Curve-encrypted TCP (elsewhere)."""

        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc" if ipc else "tcp", config=True)
        transport_encryption = CaselessStrEnum(
            ["disabled", "auto", "required"], default_value="disabled" if ipc else "auto", config=True
        )

    class QuietClient(PapermillNotebookClient):
        """papermill's client with the local kernel manager, accepting Dash's front-end probe."""

        kernel_manager_class = Type(LocalKernelManager, klass=AsyncKernelManager, config=True)

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.comm_open_handlers.setdefault("dash", lambda msg: None)

    class QuietEngine(NBClientEngine):
        """`NBClientEngine.execute_managed_notebook` (papermill 2.x) with `QuietClient`."""

        client = QuietClient

        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man: Any,
            kernel_name: str,
            log_output: bool = False,
            stdout_file: Any = None,
            stderr_file: Any = None,
            start_timeout: int = 60,
            execution_timeout: float | None = None,
            **kwargs: Any,
        ) -> Any:
            from papermill.engines import logger

            kwargs = remove_args(["input_path"], **kwargs)
            safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
            final_kwargs = merge_kwargs(
                safe_kwargs,
                timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logger,
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
            )
            return QuietClient(nb_man, **final_kwargs).execute()

    return QuietEngine


def quiet_engine() -> dict[str, str]:
    """Register the quiet engine with papermill (once) and return the `execute_notebook` keyword for it:
    ``papermill.execute_notebook(..., **quiet_engine())``."""
    from papermill.engines import papermill_engines

    papermill_engines.register(ENGINE, _engine())  # a dict entry: registering again is harmless
    return {"engine_name": ENGINE}

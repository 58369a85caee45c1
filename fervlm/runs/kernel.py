"""The Jupyter kernel a sweep executes notebooks with: one whose Python is this interpreter."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["resolve_kernel"]


def _spec_python(argv: Sequence[str]) -> str:
    """The interpreter a kernel spec starts; jupyter_client maps a bare ``python``/``python3`` to ours."""
    exe = argv[0] if argv else ""
    if exe in {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}:
        return sys.executable
    return exe


def _same_python(exe: str) -> bool:
    try:
        return (
            os.path.samefile(exe, sys.executable) or Path(exe).absolute() == Path(sys.executable).absolute()
        )
    except OSError:
        return False


def resolve_kernel(kernel: str | None = None, install_prefix: str | os.PathLike[str] | None = None) -> str:
    """The Jupyter kernel to execute notebooks with: one whose Python is this interpreter (fervlm installed).

    Order: `kernel` if given (must exist); else ``python3`` when it starts this interpreter (the venv's
    ipykernel ships it with argv ``python``, which jupyter_client replaces by `sys.executable`); else any
    installed spec that starts this interpreter; else a spec ``fervlm-<hash>`` is written for
    `sys.executable` under `install_prefix` (default `sys.prefix`, i.e. inside the virtual environment,
    nothing in the user's home) and used.

    Raises:
        ValueError: `kernel` names no installed kernel spec (the message lists those that exist).
    """
    from jupyter_client.kernelspec import KernelSpecManager

    ksm = KernelSpecManager()
    specs = ksm.find_kernel_specs()
    if kernel is not None:
        if kernel not in specs:
            raise ValueError(
                f"--kernel {kernel!r}: no such Jupyter kernel; installed: {', '.join(sorted(specs))}"
            )
        return kernel
    ordered = ["python3", *sorted(n for n in specs if n != "python3")]
    for name in ordered:
        if name not in specs:
            continue
        spec = ksm.get_kernel_spec(name)
        if spec.language.lower() == "python" and _same_python(_spec_python(spec.argv)):
            return name
    from ipykernel.kernelspec import install

    name = "fervlm-" + hashlib.sha1(sys.executable.encode()).hexdigest()[:8]
    prefix = str(install_prefix if install_prefix is not None else sys.prefix)
    install(kernel_name=name, display_name=f"Python (fervlm, {sys.executable})", prefix=prefix)
    return name

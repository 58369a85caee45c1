"""`fervlm app` (= `make app`): start the Streamlit app for interactive inference (`fervlm/app.py`)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path


def app_path() -> Path:
    """The Streamlit script shipped inside the package."""
    return Path(__file__).resolve().parents[1] / "app.py"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "app",
        help="start the Streamlit app: views / mesh / 4D sequence in, emotion and Grad-CAM out",
        description="Runs `streamlit run fervlm/app.py`. The page lists the trained checkpoints under "
        "--outputs (or takes a typed path); with none it offers an untrained zero-shot model on the tiny "
        "backbone, so it always works offline.",
    )
    p.add_argument("--port", type=int, default=8501, help="port to serve on (default: 8501)")
    p.add_argument("--address", default=None, help="address to bind (default: Streamlit's, all interfaces)")
    p.add_argument("--headless", action="store_true", help="do not open a browser (servers, containers)")
    p.add_argument("--outputs", default="outputs", help="folder searched for trained runs (default: outputs)")
    p.add_argument(
        "--print-command",
        action="store_true",
        help="print the streamlit command line and exit without starting",
    )
    return p


def build_command(args: argparse.Namespace) -> list[str]:
    """The ``streamlit run`` command line for the parsed arguments."""
    if not 1 <= int(args.port) <= 65535:
        raise ValueError(f"--port {args.port}: must be in 1..65535")
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path()),
        "--server.port",
        str(int(args.port)),
        "--server.headless",
        "true" if args.headless else "false",
        "--browser.gatherUsageStats",
        "false",  # no network calls from an offline machine
        "--client.toolbarMode",
        "minimal",  # no "Deploy" button or developer menu: the page is for users, not Streamlit developers
    ]
    if args.address:
        command += ["--server.address", str(args.address)]
    return command


def run(args: argparse.Namespace) -> int:
    command = build_command(args)
    outputs = Path(args.outputs).resolve()
    if args.print_command:
        print(f"FERVLM_OUTPUTS={outputs} " + " ".join(command))
        return 0
    if not outputs.is_dir():
        print(f"fervlm app: {outputs} does not exist yet; the page will offer the untrained zero-shot model")
    env = {**os.environ, "FERVLM_OUTPUTS": str(outputs)}
    if os.name != "posix":  # no exec that keeps the process: run the server as a child
        try:
            return subprocess.call(command, env=env)
        except KeyboardInterrupt:
            return 130
    # Become the server instead of starting it as a child: SIGTERM/SIGINT for `fervlm app` then reach
    # Streamlit itself, which shuts down and frees the port. A child would outlive a terminated parent and
    # keep the port ("Port 8501 is not available" on the next start).
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, env)
    return 0  # not reached

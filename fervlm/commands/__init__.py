"""Subcommands of the `fervlm` command line (see fervlm/cli.py)."""

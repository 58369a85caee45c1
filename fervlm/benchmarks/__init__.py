"""Throughput benchmarks behind `fervlm bench` (each module returns plain dicts; the CLI prints tables)."""

"""Figures for the notebooks and the app (matplotlib; each function returns a `Figure`)."""

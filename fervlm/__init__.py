"""fervlm: 3D/4D facial expression recognition with CLIP-style vision-language models."""

__version__ = "0.1.0"

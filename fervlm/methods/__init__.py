"""The methods as LightningModules: AffectVLM, MultiviewVLM, SMILE-VLM, two baselines, a pixel baseline,
and the cross-entropy ceiling of a tower (a diagnostic).

``build_method(config, table)`` builds any of them from a flat :class:`TrainConfig`.
"""

from fervlm.methods.affectvlm import AffectVLM
from fervlm.methods.base import FERMethod
from fervlm.methods.baselines import LinearProbe, ZeroShot
from fervlm.methods.ceiling import CrossEntropyCeiling
from fervlm.methods.config import METHOD_NAMES, TrainConfig, load_config, profile_training
from fervlm.methods.factory import METHODS, build_method, resolve_classes
from fervlm.methods.multiviewvlm import MultiviewVLM
from fervlm.methods.pixels import PixelsBaseline
from fervlm.methods.prompting import PromptTable
from fervlm.methods.smilevlm import SmileVLM

__all__ = [
    "METHODS",
    "METHOD_NAMES",
    "AffectVLM",
    "CrossEntropyCeiling",
    "FERMethod",
    "LinearProbe",
    "MultiviewVLM",
    "PixelsBaseline",
    "PromptTable",
    "SmileVLM",
    "TrainConfig",
    "ZeroShot",
    "build_method",
    "load_config",
    "profile_training",
    "resolve_classes",
]

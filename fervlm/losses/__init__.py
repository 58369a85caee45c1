"""Every loss term of docs/methods.md, one concept per file (pure functions / small modules on tensors).

Method totals (:class:`AffectVLMLoss`, :class:`MultiviewVLMLoss`, :class:`SmileVLMLoss`) return a
dict of named, already weighted parts; :func:`total_loss` sums the ``*_loss`` keys. The totals gather
their batch-wide inputs over ranks (:mod:`fervlm.distributed`); the term functions are pure and
expect the caller to pass the global batch.
"""

from ._parts import total_loss
from .affectvlm import AffectVLMLoss
from .alignment import vision_language_alignment
from .barlow import multiview_barlow_twins
from .consistency import multiview_consistency
from .fusion import ViewAwareFusion
from .infonce import LogitScale, info_nce, info_nce_one_way, label_targets
from .margin import LearnableMargin
from .multiview_contrastive import multiview_contrastive_margin
from .multiviewvlm import MultiviewVLMLoss
from .pair import negative_pair_loss, positive_pair_loss
from .redundancy import cross_modal_redundancy
from .smilevlm import SmileVLMLoss
from .triplet import multiview_triplet

__all__ = [
    "AffectVLMLoss",
    "LearnableMargin",
    "LogitScale",
    "MultiviewVLMLoss",
    "SmileVLMLoss",
    "ViewAwareFusion",
    "cross_modal_redundancy",
    "info_nce",
    "info_nce_one_way",
    "label_targets",
    "multiview_barlow_twins",
    "multiview_consistency",
    "multiview_contrastive_margin",
    "multiview_triplet",
    "negative_pair_loss",
    "positive_pair_loss",
    "total_loss",
    "vision_language_alignment",
]

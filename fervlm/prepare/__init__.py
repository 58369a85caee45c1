"""Dataset → rendered view cache + prepared index table (`fervlm prepare`, docs/design.md §4).

Submodules, one concept each:

* `fervlm.prepare.job` — the job: check the index and settings, plan what is left to render, index the
  result (`prepare`, `PrepareResult`);
* `fervlm.prepare.pool` — running the samples in this process or a pool of worker processes;
* `fervlm.prepare.sample` — one sample's work: render a scan's views or a sequence's dynamic images (and AU
  masks) and save them (`sample_frames`).
"""

from fervlm.prepare.job import FAILURE_COLUMNS, REQUIRED_COLUMNS, PrepareResult, prepare
from fervlm.prepare.sample import PNG_COMPRESS_LEVEL, sample_frames
from fervlm.tables import mask_column, view_column

__all__ = [
    "FAILURE_COLUMNS",
    "PNG_COMPRESS_LEVEL",
    "REQUIRED_COLUMNS",
    "PrepareResult",
    "mask_column",
    "prepare",
    "sample_frames",
    "view_column",
]

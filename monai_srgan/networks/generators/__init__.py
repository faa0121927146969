"""Generators: SRResNet, MSRResNet, EDSR (+ improved SE), RRDBNet, SRVGGNetCompact, the cascaded ×2 generator and
ThroughPlaneSR (a 2D network across the slice axis of volumes), the SelfEnsemble wrapper (flips and rotations
of the input, averaged) and the GrainGenerator wrapper (synthesised sensor grain added to the output).

Every generator is ``Gen(spatial_dims, in_channels, out_channels, scale, **arch)`` with ``forward(lr) -> sr``,
``sr.shape[2:] == scale * lr.shape[2:]``, and the attributes ``.scale`` and ``.receptive_field`` (radius in LR
pixels, see :mod:`.base`).
"""

from __future__ import annotations

from . import base, cascaded, edsr, grain, rrdbnet, self_ensemble, srresnet, srvgg, through_plane
from .base import *  # noqa: F401,F403
from .cascaded import *  # noqa: F401,F403
from .edsr import *  # noqa: F401,F403
from .grain import *  # noqa: F401,F403
from .rrdbnet import *  # noqa: F401,F403
from .self_ensemble import *  # noqa: F401,F403
from .srresnet import *  # noqa: F401,F403
from .srvgg import *  # noqa: F401,F403
from .through_plane import *  # noqa: F401,F403

#: name → generator class (lower-case names; ``get_generator`` also accepts the class names)
GENERATORS: dict[str, type] = {
    "srresnet": SRResNet,  # noqa: F405
    "msrresnet": MSRResNet,  # noqa: F405
    "edsr": EDSR,  # noqa: F405
    "rrdbnet": RRDBNet,  # noqa: F405
    "srvggnetcompact": SRVGGNetCompact,  # noqa: F405
    "cascadedsr": CascadedSR,  # noqa: F405
    "throughplanesr": ThroughPlaneSR,  # noqa: F405
}

__all__ = [
    "GENERATORS",
    *base.__all__,
    *srresnet.__all__,
    *edsr.__all__,
    *rrdbnet.__all__,
    *srvgg.__all__,
    *cascaded.__all__,
    *through_plane.__all__,
    *self_ensemble.__all__,
    *grain.__all__,
]

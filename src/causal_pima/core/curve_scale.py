"""The curves' model scale: an optional asinh (log-like) transform, then standardisation.

docs/model.md "Curve scale". Responses such as stress span decades and the features act on them by
factors (a defect lowers the stiffness by 30 %, thicker struts raise the plateau two- to threefold),
so on the linear scale the large specimens' spread dominates the geometry and an effect on the
small ones is lost. ``asinh(s / c)`` is linear for
``|s| << c`` (so zero and the noise around it stay finite) and ``log(2 s / c)`` for ``s >> c``: a
factor becomes a shift and the spread becomes comparable across specimens.

The model sees ``y = (t(s) - mean) / std`` with ``t(s) = asinh(s / c)`` (``c = asinh_scale > 0``) or
``t(s) = s`` (``asinh_scale = 0``, linear). Functions take numpy arrays or torch tensors (and return
the same kind); ``mean``/``std`` broadcast over the last axis (``[L]`` or scalars).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)

# Auto scale: this fraction of the training curves' typical size (median over specimens of each
# curve's root-mean-square), i.e. linear below a tenth of a typical curve, logarithmic above.
AUTO_ASINH_FRACTION = 0.1
# Auto transform: asinh when the curves' sizes span at least a decade (95th / 5th percentile of the
# per-curve RMS), the regime where causes act by factors; linear otherwise.
AUTO_SPAN_RATIO = 10.0


def _checked(asinh_scale: float) -> float:
    if asinh_scale < 0:
        raise ValueError(f"asinh_scale must be >= 0 (0 = linear), got {asinh_scale}")
    return float(asinh_scale)


def transform(stress: Array, asinh_scale: float) -> Array:
    """``asinh(stress / asinh_scale)``, or ``stress`` unchanged when ``asinh_scale == 0``."""
    if _checked(asinh_scale) == 0:
        return stress
    if isinstance(stress, torch.Tensor):
        return torch.asinh(stress / asinh_scale)
    return np.arcsinh(np.asarray(stress, dtype=np.float64) / asinh_scale)


def inverse_transform(values: Array, asinh_scale: float) -> Array:
    """Inverse of :func:`transform`: ``asinh_scale * sinh(values)`` (or ``values`` when linear)."""
    if _checked(asinh_scale) == 0:
        return values
    sinh = torch.sinh if isinstance(values, torch.Tensor) else lambda v: np.sinh(np.asarray(v, dtype=np.float64))
    return asinh_scale * sinh(values)


def to_model_scale(stress: Array, mean: Array, std: Array, asinh_scale: float = 0.0) -> Array:
    """Physical curves ``[..., L]`` to the model's standardised scale ``(t(stress) - mean) / std``."""
    return (transform(stress, asinh_scale) - mean) / std


def to_physical(values: Array, mean: Array, std: Array, asinh_scale: float = 0.0) -> Array:
    """Inverse of :func:`to_model_scale`: standardised curves ``[..., L]`` back to physical units."""
    return inverse_transform(values * std + mean, asinh_scale)


def _curve_rms(curves: np.ndarray) -> np.ndarray:
    """Root-mean-square value ``[N]`` of each curve of ``curves [N, L]``."""
    return np.sqrt(np.mean(np.square(np.asarray(curves, dtype=np.float64)), axis=1))


def size_span(curves: np.ndarray) -> float:
    """95th over 5th percentile of the per-curve RMS of ``curves [N, L]`` (inf when the 5th is 0)."""
    low, high = np.percentile(_curve_rms(curves), [5, 95])
    return float(high / low) if low > 0 else float("inf")


def auto_transform(curves: np.ndarray) -> str:
    """``"asinh"`` when :func:`size_span` of ``curves [N, L]`` is at least ``AUTO_SPAN_RATIO``, else ``"linear"``."""
    return "asinh" if size_span(curves) >= AUTO_SPAN_RATIO else "linear"


def auto_asinh_scale(curves: np.ndarray) -> float:
    """``AUTO_ASINH_FRACTION`` times the median over curves ``[N, L]`` of each one's RMS value.

    Raises:
        ValueError: when that is not a positive finite number (e.g. all-zero curves).
    """
    rms = _curve_rms(curves)
    scale = float(AUTO_ASINH_FRACTION * np.median(rms))
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"cannot choose an asinh scale: the curves' median RMS is {np.median(rms)}")
    return scale

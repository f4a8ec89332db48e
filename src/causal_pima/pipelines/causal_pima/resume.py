"""Fingerprint of a fit, so that ``resume: true`` never continues a checkpoint of a different fit.

A fit checkpoint carries, under ``"fingerprint"``, what it was made from: a SHA-256 of the training
and validation arrays, a SHA-256 of the pretrained model (its config and every tensor) and the
fit's effective parameters (defaults filled in, ``prior.n_nodes`` resolved), flattened to dotted
keys. A resume compares the stored fingerprint with the current one:

- identical: the fit continues exactly where it stopped (bit-identical to an uninterrupted fit);
- a change of a key in :data:`HARMLESS_KEYS` only: the fit continues and the log says so;
- anything else (another data set, another pretrained model, another learning rate, another number
  of nodes, ...): :class:`ResumeMismatchError`, naming the checkpoint file and every change.

Only ``epochs`` is harmless: more epochs (or fewer, but not fewer than the checkpoint already
holds) continue the same fit. The temperature schedule of the remaining epochs then follows the
new epoch count, so the result is close to, but not bit-identical with, an uninterrupted fit of the
new length. ``resume``, ``collapse_weight``, ``on_collapse`` and ``min_outcome_count`` are not part of
the fingerprint: they act after the fit and never change it.

Pure helpers (hashlib, numpy, torch tensors); no file I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

FINGERPRINT_VERSION = 1

#: fit parameters whose change a resume accepts (see the module docstring); documented in
#: conf/base/parameters_causal_pima.yml next to ``resume``
HARMLESS_KEYS = ("epochs",)

#: parameters that act after the fit only and are therefore left out of the fingerprint
NOT_FINGERPRINTED = ("resume", "collapse_weight", "on_collapse", "min_outcome_count")


class ResumeMismatchError(ValueError):
    """The fit checkpoint was made from other data, another pretrained model or other parameters."""


def _update_with_array(digest, name: str, value: Any) -> None:
    array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
    if array.dtype == object:
        digest.update(json.dumps(array.tolist(), default=str).encode())
    else:
        contiguous = np.ascontiguousarray(array)  # no copy for a contiguous (memory-mapped) array
        rows = max(1, (1 << 26) // max(contiguous[:1].nbytes, 1)) if contiguous.ndim else 1
        for start in range(0, max(len(contiguous), 1) if contiguous.ndim else 1, rows):  # 64 MiB at a time
            chunk = contiguous[start:start + rows] if contiguous.ndim else contiguous
            digest.update(np.ascontiguousarray(chunk).tobytes())


def arrays_digest(arrays: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of named arrays: every key, dtype, shape and the raw bytes, in key order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        _update_with_array(digest, name, arrays[name])
    return digest.hexdigest()


def model_digest(checkpoint: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a model checkpoint ``{"config": {...}, "state_dict": {...}}``."""
    digest = hashlib.sha256()
    digest.update(json.dumps(_plain(checkpoint.get("config", {})), sort_keys=True, default=str).encode())
    for name in sorted(checkpoint["state_dict"]):
        _update_with_array(digest, name, checkpoint["state_dict"][name])
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """JSON-like copy (tuples -> lists, numpy scalars -> Python), storable with ``weights_only``."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` with JSON-like leaves."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = _plain(value)
    return out


def fit_fingerprint(
    train_set: Mapping[str, Any],
    val_set: Mapping[str, Any],
    pretrained_model: Mapping[str, Any],
    parameters: Mapping[str, Any],
) -> dict[str, Any]:
    """What a fit is made from: data and pretrained-model digests and the flattened parameters."""
    return {
        "version": FINGERPRINT_VERSION,
        "training data": arrays_digest(train_set),
        "validation data": arrays_digest(val_set),
        "pretrained model": model_digest(pretrained_model),
        "parameters": flatten({k: v for k, v in parameters.items() if k not in NOT_FINGERPRINTED}),
    }


def _shape_mismatches(checkpoint_state: Mapping[str, Any], model_state: Mapping[str, Any]) -> list[str]:
    """One line naming the first tensors whose shapes differ (empty list when all fit)."""
    out = []
    for name, value in model_state.items():
        stored = checkpoint_state.get(name)
        if stored is not None and tuple(stored.shape) != tuple(value.shape):
            out.append(f"{name} {list(stored.shape)} in the checkpoint, {list(value.shape)} now")
    if not out:
        return []
    more = f"; and {len(out) - 2} more" if len(out) > 2 else ""
    return [f"the model's tensors differ in shape: {'; '.join(out[:2])}{more}"]


def check_resume(
    checkpoint: Mapping[str, Any],
    fingerprint: Mapping[str, Any],
    path: str,
    params_name: str,
    model_state: Mapping[str, Any] | None = None,
) -> list[str]:
    """Compare a fit checkpoint with the fit about to resume it.

    Returns the harmless changes (one sentence each, empty when nothing changed).

    Raises:
        ResumeMismatchError: the checkpoint has no fingerprint, is not a fit checkpoint, or was
            made from other data, another pretrained model or other parameters (or its tensors do
            not fit the model); the message names ``path`` and every change.
    """
    epoch = checkpoint.get("epoch")
    where = f"cannot resume from the fit checkpoint {path} (epoch {epoch})"
    advice = (
        f"Run with {params_name}.resume=false to start a new fit (it overwrites this checkpoint), "
        "or restore the data, pretrained model and parameters the checkpoint was made with."
    )
    if checkpoint.get("phase") != "fit":
        raise ResumeMismatchError(f"{where}: it is a '{checkpoint.get('phase')}' checkpoint, not a fit checkpoint. {advice}")
    stored = checkpoint.get("fingerprint")
    shapes = _shape_mismatches(checkpoint["model"]["state_dict"], model_state) if model_state is not None else []
    if not isinstance(stored, Mapping) or stored.get("version") != FINGERPRINT_VERSION:
        problems = ["it carries no fingerprint of the data, pretrained model and parameters it was made from "
                    "(written by an earlier version), so it cannot be checked", *shapes]
        raise ResumeMismatchError(f"{where}: " + "; ".join(problems) + f". {advice}")

    changes, harmless = [], []
    for part in ("training data", "validation data", "pretrained model"):
        if stored.get(part) != fingerprint[part]:
            changes.append(f"the {part} differs from the one the checkpoint was made from")
    old, new = stored.get("parameters", {}), fingerprint["parameters"]
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key, "<unset>"), new.get(key, "<unset>")
        if before == after:
            continue
        if key == "epochs" and isinstance(after, int) and isinstance(epoch, int) and after < epoch:
            changes.append(f"{params_name}.epochs is {after} now but the checkpoint already holds {epoch} epochs")
        elif key in HARMLESS_KEYS:
            harmless.append(f"{params_name}.{key} changed from {before} to {after} (harmless: the fit continues)")
        else:
            changes.append(f"{params_name}.{key}: {before} in the checkpoint, {after} now")
    changes.extend(shapes)
    if changes:
        listing = "".join(f"\n  - {c}" for c in changes)
        raise ResumeMismatchError(f"{where}: it was made from a different fit:{listing}\n{advice}")
    return harmless

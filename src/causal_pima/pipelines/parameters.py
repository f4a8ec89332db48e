"""Which parameters a data set's modular pipelines read, and how a data set states only its differences.

The default data set (circles) reads ``params:<stage>`` (e.g. ``params:pretraining``); any other data
set reads ``params:<stage>_<dataset>`` (e.g. ``params:pretraining_lattice``), so each data set can be
tuned without touching the others.

Each shared stage (``data_processing``, ``model``, ``pretraining``, ``causal_pima``) is defined once,
in its own ``conf/base/parameters_*.yml`` file. Another data set does not copy it: its file lists only
what differs, under ``<dataset>_overrides.<stage>``, and builds each of its stage groups with the
``overlay`` resolver (registered in ``config_loader.CONFIG_LOADER_ARGS["custom_resolvers"]``, which ``settings.py`` hands to Kedro)::

    lattice_overrides:
      causal_pima: {epochs: 20, batch_size: 64}
    causal_pima_lattice: ${overlay:causal_pima,lattice_overrides.causal_pima}

``causal_pima_lattice`` is then the whole ``causal_pima`` group with those keys replaced (dicts merged
key by key, any other value, lists included, replaced whole), so the nodes receive a full dict under
the same parameter name as before.
"""

from __future__ import annotations

import re
from typing import Any

from omegaconf import DictConfig, OmegaConf

DEFAULT_DATASET = "circles"
# the stages every data set runs, each read as params:<stage> (circles) or params:<stage>_<dataset>
SHARED_STAGES = ("data_processing", "model", "pretraining", "causal_pima")
# groups shared by every data set, read under their own name (conf/base/parameters_compute.yml)
COMPUTE_PARAMETERS = {"params:compute": "params:compute", "params:distributed": "params:distributed"}
OVERRIDES_SUFFIX = "_overrides"  # <dataset>_overrides: a data set's differences, {stage: {key: value}}

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")  # a key that a dotted interpolation path can name


def stage_parameters(stage: str, dataset: str) -> dict[str, str]:
    """Kedro ``parameters`` mapping for a namespaced pipeline: ``{"params:<stage>": <its key>}``."""
    key = stage if dataset == DEFAULT_DATASET else f"{stage}_{dataset}"
    return {f"params:{stage}": f"params:{key}"}


def overlay(base: str, overrides: str, *, _parent_: Any, _root_: Any) -> DictConfig:
    """OmegaConf resolver ``${overlay:BASE,OVERRIDES}``: the group at BASE with OVERRIDES laid over it.

    BASE and OVERRIDES are dotted paths of the parameters config (``causal_pima``,
    ``lattice_overrides.causal_pima``). A key in both whose two values are dicts is overlaid key
    by key; any other key of OVERRIDES replaces BASE's value whole (lists included); a key only in
    OVERRIDES is added.

    The result holds an interpolation per value (``${causal_pima.seed}`` or
    ``${lattice_overrides.causal_pima.epochs}``), not a copy, so later changes reach it whatever
    the order: ``kedro run --params causal_pima.learning_rate=5e-4,causal_pima_lattice.seed=1`` (both
    in either order) gives the lattice the new learning rate and seed, while a key that the
    overrides list (e.g. ``epochs``) keeps the overrides' value. OmegaConf resolves an interpolation
    node when ``--params`` merges into it; a plain copy would freeze the values merged so far.
    """
    base_node = _group(_root_, base, "the group to overlay")
    override_node = _group(_root_, overrides, "the overrides")
    return OmegaConf.create(_overlay_paths(base_node, override_node, base, overrides), parent=_parent_)


def _group(root: Any, path: str, what: str) -> DictConfig:
    node = OmegaConf.select(root, path, throw_on_missing=True)
    if not isinstance(node, DictConfig) or node._is_none():
        found = "nothing" if node is None else repr(OmegaConf.to_container(node) if isinstance(node, DictConfig) else node)
        raise ValueError(f"${{overlay:...}}: {what} '{path}' must be a parameter group (a mapping); found {found}")
    return node


def _overlay_paths(base: DictConfig, overrides: DictConfig, base_path: str, overrides_path: str) -> dict[str, Any]:
    """``{key: "${<path>.<key>}"}`` for the overlay of ``overrides`` on ``base`` (nested dicts recursed)."""
    out: dict[str, Any] = {}
    for key in [*base.keys(), *(k for k in overrides.keys() if k not in base)]:
        key = str(key)
        if not _KEY.match(key):
            raise ValueError(
                f"${{overlay:{base_path},{overrides_path}}}: key {key!r} cannot be named in an interpolation; "
                "use letters, digits and underscores"
            )
        in_overrides = key in overrides
        base_value = base[key] if key in base else None
        override_value = overrides[key] if in_overrides else None
        if in_overrides and isinstance(base_value, DictConfig) and isinstance(override_value, DictConfig):
            out[key] = _overlay_paths(base_value, override_value, f"{base_path}.{key}", f"{overrides_path}.{key}")
        else:
            out[key] = "${" + (overrides_path if in_overrides else base_path) + "." + key + "}"
    return out

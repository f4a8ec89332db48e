"""Shared fixtures for the model / training / prediction tests: a tiny rendered circles data set and
a small causalPIMA configuration (docs/model.md "Model and ELBO").

Everything is seeded; the data are built once per session and copied per test where a test could
mutate them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from causal_pima.core.model import CausalPIMA
from causal_pima.core.model_config import ModelConfig
from causal_pima.data.circles import CirclesRenderConfig, render_circles
from causal_pima.data.scm import BinarySCM

COLLIDER = {
    "radius": {"parents": [], "p_one": [0.5]},
    "shift": {"parents": [], "p_one": [0.5]},
    "hue": {"parents": ["radius", "shift"], "p_one": [0.05, 0.5, 0.5, 0.95]},
}

SMALL_MODEL = {
    "image_shape": (3, 16, 16),
    "curve_length": 32,
    "latent_dim": 4,
    "image_channels": (8, 8),
    "image_hidden_dim": 32,
    "curve_hidden_dims": (32,),
    # the values these tests were written for (the configs' defaults before issue 21 aligned them with the
    # parameter files: table conditionals, modality_balance 0.75): logistic conditionals, and every modality
    # weighing 1, so the training loss is minus the ELBO
    "conditionals": "logistic",
    "modality_balance": 0.0,
}


def make_circles(n: int, seed: int) -> dict[str, torch.Tensor]:
    """``{"image": [n, 3, 16, 16], "curve": [n, 32], "features": int64 [n, 3]}`` of the collider.

    Curves are standardised with their mean curve and one pooled standard deviation.
    """
    rng = np.random.default_rng(seed)
    features = BinarySCM.from_config(COLLIDER).sample(n, rng)
    images, curves, _ = render_circles(
        features, rng, CirclesRenderConfig(image_size=16, n_wavelengths=32)
    )
    curves = (curves - curves.mean(axis=0)) / curves.std()
    return {
        "image": torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)),
        "curve": torch.from_numpy(np.ascontiguousarray(curves, dtype=np.float32)),
        "features": torch.from_numpy(features.to_numpy().astype(np.int64)),
    }


def small_config(**overrides) -> ModelConfig:
    return ModelConfig(**{**SMALL_MODEL, **overrides})


def small_model(seed: int = 0, **overrides) -> CausalPIMA:
    torch.manual_seed(seed)
    return CausalPIMA(small_config(**overrides))


def modalities(data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model inputs only (drops ``features``)."""
    return {k: v for k, v in data.items() if k in ("image", "curve")}


@pytest.fixture(scope="session")
def circles_train() -> dict[str, torch.Tensor]:
    """256 training specimens (model inputs only)."""
    return modalities(make_circles(256, seed=0))


@pytest.fixture(scope="session")
def circles_val() -> dict[str, torch.Tensor]:
    """128 validation specimens (model inputs only)."""
    return modalities(make_circles(128, seed=1))


@pytest.fixture()
def batch(circles_train) -> dict[str, torch.Tensor]:
    """The first 64 training specimens (a fresh copy per test)."""
    return {k: v[:64].clone() for k, v in circles_train.items()}


@pytest.fixture()
def model() -> CausalPIMA:
    """A freshly initialised small model (seed 0)."""
    return small_model(0)


@pytest.fixture(scope="module")
def one_thread():
    """Run a module's tiny networks on one thread (restored afterwards): on a shared 2-core machine
    intra-op threads of such small tensors mostly wait for each other (3-4x slower under load)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)

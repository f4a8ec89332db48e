"""Nodes of the ``data_processing`` pipeline: the library functions of :mod:`causal_pima.data.processing`
(raw specimen set -> validation report, split, curve scaler, model-input sets), used as they are."""

from causal_pima.data.processing import (
    SPLITS,
    SpecimenValidationError,
    build_model_input,
    fit_curve_scaler,
    split_specimens,
    validate_specimens,
)

__all__ = ["SPLITS", "SpecimenValidationError", "validate_specimens", "split_specimens", "fit_curve_scaler", "build_model_input"]

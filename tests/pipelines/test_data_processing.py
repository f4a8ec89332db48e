"""Tests for the data_processing nodes: validation, seeded splits, train-only curve statistics, model input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal_pima.pipelines.data_processing import create_pipeline
from causal_pima.pipelines.data_processing.nodes import (
    SpecimenValidationError,
    build_model_input,
    fit_curve_scaler,
    split_specimens,
    validate_specimens,
)

PARAMS = {
    "seed": 0,
    "split": {"train": 0.8, "val": 0.1, "test": 0.1},
    "image_range": [0.0, 1.0],
    "curve_std_floor": 1.0e-6,
}
N, C, H, W, L = 20, 3, 6, 6, 16


def _raw(n: int = N, seed: int = 0) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    rng = np.random.default_rng(seed)
    raw = {
        "images": rng.uniform(0.0, 1.0, size=(n, C, H, W)).astype(np.float32),
        "curves": rng.normal(2.0, 0.5, size=(n, L)).astype(np.float32),
        "grid": np.linspace(400.0, 700.0, L).astype(np.float32),
    }
    labels = pd.DataFrame(
        {
            "specimen_id": np.arange(n),
            "radius": rng.integers(0, 2, n).astype(np.int8),
            "hue": rng.integers(0, 2, n).astype(np.int8),
        }
    )
    return raw, labels


# ---------------------------------------------------------------- validation


def test_valid_set_gives_report_with_counts_and_shapes():
    raw, labels = _raw()
    report = validate_specimens(raw, labels, PARAMS)
    assert report == {
        "n_specimens": 20,
        "image_shape": [3, 6, 6],
        "curve_length": 16,
        "label_columns": ["radius", "hue"],
    }


def test_valid_set_without_labels():
    raw, _ = _raw()
    report = validate_specimens(raw, None, PARAMS)
    assert report["n_specimens"] == 20 and report["label_columns"] == []


def _nan_in_image(raw, labels):
    raw["images"][5, 1, 2, 3] = np.nan


def _inf_in_image(raw, labels):
    raw["images"][8, 0, 0, 0] = np.inf


def _inf_in_curve(raw, labels):
    raw["curves"][11, 7] = np.inf


def _nan_in_curve(raw, labels):
    raw["curves"][0, 15] = np.nan


def _image_above_range(raw, labels):
    raw["images"][7, 2, 5, 5] = 1.5


def _image_below_range(raw, labels):
    raw["images"][2, 0, 1, 1] = -0.01


def _fewer_curves(raw, labels):
    raw["curves"] = raw["curves"][:19]


def _short_grid(raw, labels):
    raw["grid"] = raw["grid"][:15]


def _decreasing_grid(raw, labels):
    raw["grid"] = raw["grid"][::-1].copy()


def _label_two(raw, labels):
    labels.loc[4, "hue"] = 2


def _label_fraction(raw, labels):
    labels["radius"] = labels["radius"].astype(float)
    labels.loc[13, "radius"] = 0.5


def _missing_label_row(raw, labels):
    return labels.iloc[:19]


def _missing_curves_key(raw, labels):
    del raw["curves"]


def _images_3d(raw, labels):
    raw["images"] = raw["images"][:, 0]


BAD_INPUTS = [
    (_nan_in_image, r"^specimen 5: image has NaN or inf values \(1 specimens affected\)$"),
    (_inf_in_image, r"^specimen 8: image has NaN or inf values"),
    (_inf_in_curve, r"^specimen 11: curve has NaN or inf values \(1 specimens affected\)$"),
    (_nan_in_curve, r"^specimen 0: curve has NaN or inf values"),
    (_image_above_range, r"^specimen 7: image values outside \[0\.0, 1\.0\]"),
    (_image_below_range, r"^specimen 2: image values outside \[0\.0, 1\.0\]"),
    (_fewer_curves, r"20 images but 19 curves"),
    (_short_grid, r"grid must be \[L\] with L = 16 \(curve length\), got shape \(15,\)"),
    (_decreasing_grid, r"grid must be finite and strictly increasing"),
    (_label_two, r"^specimen 4: label 'hue' is .*2.*, expected 0 or 1$"),
    (_label_fraction, r"^specimen 13: label 'radius' is .*0\.5.*, expected 0 or 1$"),
    (_missing_label_row, r"20 specimens but 19 label rows"),
    (_missing_curves_key, r"no 'curves' array"),
    (_images_3d, r"images must be \[N, C, H, W\], got shape \(20, 6, 6\)"),
]


@pytest.mark.parametrize(
    ("corrupt", "message"), BAD_INPUTS, ids=[c.__name__.strip("_") for c, _ in BAD_INPUTS]
)
def test_bad_input_is_rejected_naming_specimen_and_problem(corrupt, message):
    raw, labels = _raw()
    replaced = corrupt(raw, labels)  # corrupts in place, or returns a new label table
    if replaced is not None:
        labels = replaced
    with pytest.raises(SpecimenValidationError, match=message):
        validate_specimens(raw, labels, PARAMS)


def test_first_bad_specimen_is_named_and_all_bad_ones_counted():
    raw, labels = _raw()
    raw["curves"][[9, 3, 17], 0] = np.nan
    with pytest.raises(SpecimenValidationError, match=r"^specimen 3: .*\(3 specimens affected\)$"):
        validate_specimens(raw, labels, PARAMS)


def test_image_range_comes_from_parameters():
    raw, labels = _raw()
    raw["images"] = raw["images"] * 255.0
    with pytest.raises(SpecimenValidationError, match=r"outside \[0\.0, 1\.0\]"):
        validate_specimens(raw, labels, PARAMS)
    report = validate_specimens(raw, labels, {**PARAMS, "image_range": [0, 255]})
    assert report["n_specimens"] == 20


def test_empty_set_is_rejected_with_a_validation_error():
    raw, labels = _raw(n=0)
    with pytest.raises(SpecimenValidationError):
        validate_specimens(raw, labels, PARAMS)


# ---------------------------------------------------------------- splits


def _counts(split: pd.DataFrame) -> dict[str, int]:
    return {name: int((split["split"] == name).sum()) for name in ("train", "val", "test")}


def test_split_of_200_is_exactly_160_20_20_disjoint_and_covering():
    split = split_specimens({"n_specimens": 200}, PARAMS)
    assert list(split.columns) == ["specimen_index", "split"]
    np.testing.assert_array_equal(split["specimen_index"].to_numpy(), np.arange(200))
    assert _counts(split) == {"train": 160, "val": 20, "test": 20}
    # one label per specimen: the three sets are disjoint and cover 0..199
    assert set(split["split"]) == {"train", "val", "test"}
    groups = [
        set(split.loc[split["split"] == s, "specimen_index"]) for s in ("train", "val", "test")
    ]
    assert sum(len(g) for g in groups) == 200 and set().union(*groups) == set(range(200))


def test_split_defaults_to_80_10_10():
    split = split_specimens({"n_specimens": 200}, {"seed": 0})
    assert _counts(split) == {"train": 160, "val": 20, "test": 20}


def test_split_is_fixed_by_seed():
    first = split_specimens({"n_specimens": 200}, PARAMS)
    again = split_specimens({"n_specimens": 200}, PARAMS)
    other = split_specimens({"n_specimens": 200}, {**PARAMS, "seed": 1})
    pd.testing.assert_frame_equal(first, again)
    assert _counts(other) == _counts(first)
    differing = int((first["split"] != other["split"]).sum())
    assert differing > 20  # a different permutation, not a relabelling of a few specimens


def test_split_of_7_covers_every_specimen_once():
    split = split_specimens({"n_specimens": 7}, PARAMS)
    np.testing.assert_array_equal(split["specimen_index"].to_numpy(), np.arange(7))
    assert sum(_counts(split).values()) == 7
    assert set(split["split"]) <= {"train", "val", "test"}


@pytest.mark.parametrize(
    ("n", "fractions", "expected"),
    [
        (200, {"train": 0.8, "val": 0.1, "test": 0.1}, {"train": 160, "val": 20, "test": 20}),
        (10, {"train": 0.6, "val": 0.2, "test": 0.2}, {"train": 6, "val": 2, "test": 2}),
        (
            7,
            {"train": 0.8, "val": 0.1, "test": 0.1},
            {"train": 5, "val": 1, "test": 1},
        ),
        (
            100,
            {"train": 0.42, "val": 0.29, "test": 0.29},
            {"train": 42, "val": 29, "test": 29},
        ),
    ],
)
def test_split_sizes_are_the_rounded_shares(n, fractions, expected):
    split = split_specimens({"n_specimens": n}, {"seed": 3, "split": fractions})
    counts = _counts(split)
    assert counts == expected
    # every size within one specimen of its exact share
    for name, fraction in fractions.items():
        assert abs(counts[name] - fraction * n) < 1


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        (
            {"train": 0.8, "val": 0.2},
            r"needs exactly the keys \('train', 'val', 'test'\), got \['train', 'val'\]",
        ),
        ({"train": 0.8, "val": 0.1, "test": 0.1, "holdout": 0.0}, r"needs exactly the keys"),
        ({"train": 0.8, "val": 0.3, "test": 0.1}, r"must be >= 0 and sum to 1"),
        ({"train": 1.2, "val": -0.1, "test": -0.1}, r"must be >= 0 and sum to 1"),
    ],
)
def test_wrong_split_fractions_are_rejected(fractions, message):
    with pytest.raises(ValueError, match=message):
        split_specimens({"n_specimens": 200}, {"seed": 0, "split": fractions})


# ---------------------------------------------------------------- curve statistics


def _leaky_set(n: int = 200) -> tuple[dict[str, np.ndarray], pd.DataFrame, pd.DataFrame]:
    """Train curves around 2 +- 0.5; val/test curves around 1e4 +- 3e3: any leak shows up at once."""
    raw, labels = _raw(n, seed=1)
    split = split_specimens({"n_specimens": n}, PARAMS)
    held_out = split["split"].to_numpy() != "train"
    rng = np.random.default_rng(2)
    raw["curves"][held_out] = rng.normal(1.0e4, 3.0e3, size=(int(held_out.sum()), L)).astype(
        np.float32
    )
    return raw, labels, split


POINTWISE = {**PARAMS, "curve_scaling": "pointwise"}


def test_curve_scaler_uses_the_training_split_only():
    raw, _, split = _leaky_set()
    scaler = fit_curve_scaler(raw, split, POINTWISE)
    train = raw["curves"].astype(np.float64)[split["split"].to_numpy() == "train"]
    assert scaler["n_train"] == 160 == len(train)
    np.testing.assert_allclose(scaler["mean"], train.mean(axis=0), rtol=1e-12, atol=0)
    np.testing.assert_allclose(scaler["std"], train.std(axis=0), rtol=1e-12, atol=0)
    # the train curves have mean ~2 and std ~0.5; the whole set's mean is ~2000
    assert np.all(np.abs(np.asarray(scaler["mean"]) - 2.0) < 0.2)
    assert np.all(np.abs(np.asarray(scaler["std"]) - 0.5) < 0.1)
    assert raw["curves"].astype(np.float64).mean(axis=0).min() > 1000.0
    assert len(scaler["mean"]) == len(scaler["std"]) == L


def test_global_curve_scaler_pools_one_std_over_the_training_split():
    raw, _, split = _leaky_set()
    scaler = fit_curve_scaler(raw, split, {**PARAMS, "curve_scaling": "global"})
    train = raw["curves"].astype(np.float64)[split["split"].to_numpy() == "train"]
    pooled = np.sqrt(((train - train.mean(axis=0)) ** 2).mean())
    assert scaler["scaling"] == "global"
    np.testing.assert_allclose(scaler["mean"], train.mean(axis=0), rtol=1e-12, atol=0)
    np.testing.assert_allclose(scaler["std"], np.full(L, pooled), rtol=1e-12, atol=0)
    assert abs(pooled - 0.5) < 0.1  # the train curves' spread, untouched by the held-out ~1e4 curves


def test_unknown_curve_scaling_is_rejected():
    raw, _, split = _leaky_set()
    with pytest.raises(ValueError, match="curve_scaling must be 'global' or 'pointwise'"):
        fit_curve_scaler(raw, split, {**PARAMS, "curve_scaling": "robust"})


def test_asinh_curve_scaler_standardises_the_asinh_of_the_training_curves():
    raw, labels, split = _leaky_set()
    report = validate_specimens(raw, labels, PARAMS)
    train_curves = raw["curves"].astype(np.float64)[split["split"].to_numpy() == "train"]
    for given, expected in ((0.25, 0.25), (None, 0.1 * np.median(np.sqrt((train_curves**2).mean(axis=1))))):
        scaler = fit_curve_scaler(raw, split, {**PARAMS, "curve_transform": "asinh", "curve_asinh_scale": given})
        assert scaler["transform"] == "asinh" and scaler["asinh_scale"] == pytest.approx(expected, rel=1e-12)
        asinh = np.arcsinh(train_curves / expected)
        np.testing.assert_allclose(scaler["mean"], asinh.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(scaler["std"], np.sqrt(((asinh - asinh.mean(axis=0)) ** 2).mean()), rtol=1e-12)
        train, _, test = build_model_input(raw, labels, split, scaler, report)
        assert float(train["curve_asinh_scale"]) == float(test["curve_asinh_scale"]) == pytest.approx(expected)
        mean, std = np.asarray(scaler["mean"]), np.asarray(scaler["std"])
        test_raw = raw["curves"].astype(np.float64)[test["index"]]
        np.testing.assert_allclose(test["curves"], (np.arcsinh(test_raw / expected) - mean) / std, rtol=1e-5, atol=1e-5)
    # linear stores scale 0 and the plain standardisation
    linear = fit_curve_scaler(raw, split, {**PARAMS, "curve_transform": "linear"})
    assert linear["transform"] == "linear" and linear["asinh_scale"] == 0.0


def test_auto_curve_transform_takes_asinh_when_curve_sizes_span_a_decade():
    """``auto`` (the default): the training curves here have sizes 2 +- 0.5 (a span of ~1.5x: linear);
    scaled by factors 10**U(0, 2) (sizes over two decades) they get the asinh scale."""
    raw, _, split = _leaky_set()
    default = fit_curve_scaler(raw, split, PARAMS)
    assert default["transform_requested"] == "auto" and default["transform"] == "linear"
    assert 1.0 < default["size_span"] < 2.0
    np.testing.assert_allclose(default["std"], fit_curve_scaler(raw, split, {**PARAMS, "curve_transform": "linear"})["std"], rtol=0)
    factors = 10.0 ** np.random.default_rng(5).uniform(0.0, 2.0, (len(raw["curves"]), 1))
    spread = {**raw, "curves": (raw["curves"] * factors).astype(np.float32)}
    auto = fit_curve_scaler(spread, split, {**PARAMS, "curve_transform": "auto"})
    assert auto["transform"] == "asinh" and auto["size_span"] > 10.0
    assert auto["asinh_scale"] == fit_curve_scaler(spread, split, {**PARAMS, "curve_transform": "asinh"})["asinh_scale"] > 0


@pytest.mark.parametrize(
    ("update", "message"),
    [({"curve_transform": "log"}, "curve_transform must be 'linear', 'asinh' or 'auto'"),
     ({"curve_transform": "asinh", "curve_asinh_scale": -2.0}, "curve_asinh_scale must be > 0")],
)
def test_bad_curve_transform_parameters_are_refused(update, message):
    raw, _, split = _leaky_set()
    with pytest.raises(ValueError, match=message):
        fit_curve_scaler(raw, split, {**PARAMS, **update})


def test_curve_scaler_floors_a_constant_grid_point():
    raw, _, split = _leaky_set()
    raw["curves"][:, 3] = 7.0
    scaler = fit_curve_scaler(raw, split, {**POINTWISE, "curve_std_floor": 1e-3})
    assert scaler["std"][3] == 1e-3 and scaler["mean"][3] == 7.0


def test_curve_scaler_needs_two_training_specimens():
    raw, _ = _raw(n=3)
    split = pd.DataFrame({"specimen_index": [0, 1, 2], "split": ["train", "val", "test"]})
    with pytest.raises(ValueError, match="training split has 1 specimens"):
        fit_curve_scaler(raw, split, PARAMS)


def test_standardised_train_curves_have_mean_0_and_std_1_per_grid_point():
    raw, labels, split = _leaky_set()
    report = validate_specimens(raw, labels, PARAMS)
    scaler = fit_curve_scaler(raw, split, POINTWISE)
    train, val, test = build_model_input(raw, labels, split, scaler, report)
    assert train["curves"].shape == (160, L) and train["curves"].dtype == np.float32
    np.testing.assert_allclose(train["curves"].astype(np.float64).mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(train["curves"].astype(np.float64).std(axis=0), 1.0, atol=1e-5)
    # the held-out curves are standardised with the train statistics, so they stay far away
    for held_out in (val, test):
        assert held_out["curves"].mean() > 1000.0
    np.testing.assert_allclose(train["curve_mean"], np.float32(scaler["mean"]))
    np.testing.assert_allclose(train["curve_std"], np.float32(scaler["std"]))


# ---------------------------------------------------------------- model input


def test_model_input_sets_carry_index_labels_and_data_of_their_split():
    raw, labels = _raw(n=200, seed=4)
    report = validate_specimens(raw, labels, PARAMS)
    split = split_specimens(report, PARAMS)
    scaler = fit_curve_scaler(raw, split, PARAMS)
    sets = dict(
        zip(
            ("train", "val", "test"),
            build_model_input(raw, labels, split, scaler, report),
            strict=True,
        )
    )

    seen = []
    for name, expected_n in (("train", 160), ("val", 20), ("test", 20)):
        data = sets[name]
        expected_index = split.loc[split["split"] == name, "specimen_index"].to_numpy()
        assert data["index"].dtype == np.int64 and len(data["index"]) == expected_n
        np.testing.assert_array_equal(data["index"], expected_index)
        np.testing.assert_array_equal(data["images"], raw["images"][expected_index])
        assert data["images"].shape == (expected_n, C, H, W) and data["images"].dtype == np.float32
        assert data["curves"].shape == (expected_n, L)
        np.testing.assert_allclose(
            data["curves"],
            (raw["curves"][expected_index].astype(np.float64) - scaler["mean"]) / scaler["std"],
            rtol=1e-6,
            atol=1e-6,
        )
        assert data["labels"].dtype == np.int8 and data["labels"].shape == (expected_n, 2)
        np.testing.assert_array_equal(
            data["labels"], labels[["radius", "hue"]].to_numpy()[expected_index]
        )
        assert list(data["label_names"]) == ["radius", "hue"]
        assert list(data["specimen_id"]) == [str(i) for i in expected_index]
        np.testing.assert_array_equal(data["grid"], raw["grid"])
        seen.append(data["index"])
    everything = np.concatenate(seen)
    assert len(everything) == 200 and set(everything.tolist()) == set(range(200))


def test_model_input_without_labels_has_empty_label_matrix():
    raw, _ = _raw()
    report = validate_specimens(raw, None, PARAMS)
    split = split_specimens(report, PARAMS)
    scaler = fit_curve_scaler(raw, split, PARAMS)
    train, val, test = build_model_input(raw, None, split, scaler, report)
    assert (len(train["index"]), len(val["index"]), len(test["index"])) == (16, 2, 2)
    assert train["labels"].shape == (16, 0) and train["label_names"].shape == (0,)
    assert list(val["specimen_id"]) == [str(i) for i in val["index"]]


def test_pipeline_is_namespaced_by_data_set():
    pipeline = create_pipeline(dataset="lattice")
    assert pipeline.inputs() == {
        "lattice.raw_specimens",
        "lattice.features",
        "params:data_processing_lattice",  # every data set but circles reads params:<stage>_<dataset>
    }
    assert {"lattice.train_set", "lattice.val_set", "lattice.test_set"} <= pipeline.outputs()
    assert [n.name for n in pipeline.nodes][0] == "data_processing.lattice.validate_specimens"


def test_a_degenerate_curve_transform_is_refused_where_the_model_input_is_written():
    """Issue 24, item 4: a scale that overflows the transform used to write 100 % NaN curves with rc 0."""
    raw, labels, split = _leaky_set()
    report = validate_specimens(raw, labels, PARAMS)
    scaler = {**fit_curve_scaler(raw, split, POINTWISE), "asinh_scale": 1e-320}
    with pytest.raises(ValueError, match=r"the model input's curves are not finite for \d+ of \d+ specimens \(first: specimen "
                                         r"'.*'\): nothing was written\. The curve transform overflowed: check "
                                         r"data_processing\.curve_asinh_scale"):
        build_model_input(raw, labels, split, scaler, report)

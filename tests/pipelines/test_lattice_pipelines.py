"""Tests for the lattice pipelines: lattice_synthetic and lattice (ingestion) nodes directly, broken
manifests in skip / raise mode, the catalog entries, and one run of synthetic + ingestion +
data_processing through a SequentialRunner on a real specimen folder."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import CSVDataset
from matplotlib.figure import Figure

from causal_pima.data.scm import BinarySCM
from causal_pima.data.specimens import SpecimenError
from causal_pima.datasets.specimen_manifest import SpecimenManifestDataset
from causal_pima.pipelines.data_processing import (
    create_pipeline as create_data_processing_pipeline,
)
from causal_pima.pipelines.lattice import create_pipeline as create_ingestion_pipeline
from causal_pima.pipelines.lattice.nodes import ingest
from causal_pima.pipelines.lattice_synthetic import (
    create_pipeline as create_synthetic_pipeline,
)
from causal_pima.pipelines.lattice_synthetic.nodes import (
    generate_raw,
    plot_sample_images,
    plot_stress_strain,
)

CONF = Path(__file__).resolve().parents[2] / "conf" / "base"
FEATURES = ["family", "thickness", "defect"]


def _params(name: str) -> dict:
    with (CONF / "parameters_lattice.yml").open() as handle:
        return copy.deepcopy(yaml.safe_load(handle)[name])


def _synthetic_params(n: int, **overrides) -> dict:
    return {**_params("lattice_synthetic"), "n_specimens": n, **overrides}


def _ingestion_params(**overrides) -> dict:
    return {**_params("lattice_ingestion"), **overrides}


@pytest.fixture(scope="module")
def raw40() -> tuple[dict, dict]:
    return generate_raw(_synthetic_params(40))


def _written(raw: dict, folder: Path) -> SpecimenManifestDataset:
    dataset = SpecimenManifestDataset(str(folder))
    dataset.save(raw)
    return dataset


# ---------------------------------------------------------------- lattice_synthetic nodes


def test_generate_raw_builds_the_manifest_tables_and_true_dag(raw40, tmp_path):
    raw, true_dag = raw40
    manifest = raw["manifest"]
    assert list(manifest.columns) == ["specimen_id", *FEATURES]
    ids = [f"lattice_{i:05d}" for i in range(40)]
    assert manifest["specimen_id"].tolist() == ids
    assert set(np.unique(manifest[FEATURES].to_numpy()).tolist()) == {0, 1}
    assert sorted(raw["images"]) == ids and sorted(raw["curves"]) == ids
    image = raw["images"]["lattice_00000"]
    assert image.shape == (64, 64) and image.dtype == np.float32
    assert 0.0 <= min(i.min() for i in raw["images"].values())
    assert max(i.max() for i in raw["images"].values()) <= 1.0
    curve = raw["curves"]["lattice_00007"]
    assert list(curve.columns) == ["strain", "stress"] and len(curve) == 301
    assert curve["strain"].iloc[0] == 0.0 and (np.diff(curve["strain"]) > 0).all()
    assert 0.75 <= curve["strain"].iloc[-1] <= 0.75 * 1.05 + 1e-12

    assert true_dag == {
        "configuration": "collider",
        "features": FEATURES,
        "edges": [["family", "defect"], ["thickness", "defect"]],
        "scm": _params("lattice_synthetic")["dag"],
    }
    BinarySCM.from_config(true_dag["scm"])  # the record round-trips into an SCM

    # what the catalog's SpecimenManifestDataset writes: manifest + one PNG and one CSV each
    _written(raw, tmp_path)
    written = pd.read_csv(tmp_path / "specimens.csv")
    assert list(written.columns) == ["specimen_id", "image", "curve", *FEATURES]
    assert written["image"].tolist() == [f"images/{i}.png" for i in ids]
    assert written["curve"].tolist() == [f"curves/{i}.csv" for i in ids]
    assert len(list((tmp_path / "images").glob("*.png"))) == 40
    assert len(list((tmp_path / "curves").glob("*.csv"))) == 40
    pd.testing.assert_frame_equal(written[FEATURES], manifest[FEATURES], check_dtype=False)


def test_generate_raw_is_seeded(raw40):
    raw, _ = raw40
    again, _ = generate_raw(_synthetic_params(40))
    other, _ = generate_raw(_synthetic_params(40, seed=1))
    pd.testing.assert_frame_equal(raw["manifest"], again["manifest"])
    np.testing.assert_array_equal(raw["images"]["lattice_00003"], again["images"]["lattice_00003"])
    pd.testing.assert_frame_equal(raw["curves"]["lattice_00003"], again["curves"]["lattice_00003"])
    assert not np.array_equal(raw["images"]["lattice_00003"], other["images"]["lattice_00003"])


def test_generate_raw_force_displacement_carries_geometry():
    raw, _ = generate_raw(_synthetic_params(6, curve_format="force_displacement"))
    assert list(raw["manifest"].columns) == ["specimen_id", *FEATURES, "gauge_length", "cross_section_area"]
    assert list(raw["curves"]["lattice_00000"].columns) == ["displacement", "force"]
    # ingestion converts back: same stress-strain as the stress_strain format
    same, _ = generate_raw(_synthetic_params(6))
    forces, _, _ = ingest(_as_loaded(raw), _ingestion_params())
    stresses, _, _ = ingest(_as_loaded(same), _ingestion_params())
    np.testing.assert_allclose(forces["curves"], stresses["curves"], rtol=1e-5, atol=1e-6)


def _as_loaded(raw: dict) -> dict:
    """The in-memory tables in the shape ``SpecimenManifestDataset.load`` returns (no files)."""
    manifest = raw["manifest"].copy()
    manifest.insert(1, "image", [f"images/{i}.npy" for i in manifest["specimen_id"]])
    manifest.insert(2, "curve", [f"curves/{i}.csv" for i in manifest["specimen_id"]])
    return {"manifest": manifest, "images": raw["images"], "curves": raw["curves"], "folder": "mem"}


def test_figures_show_every_outcome_and_both_families():
    raw, _ = generate_raw(_synthetic_params(200))
    params = _synthetic_params(200)
    images_figure = plot_sample_images(raw, params)
    curves_figure = plot_stress_strain(raw, params)
    try:
        assert isinstance(images_figure, Figure) and isinstance(curves_figure, Figure)
        titled = [ax for ax in images_figure.axes if ax.get_title()]
        assert len(titled) == 16
        # round-robin over the 8 joint outcomes: two specimens of each
        outcomes = pd.Series([ax.get_title().split("\n")[1] for ax in titled]).value_counts()
        assert len(outcomes) == 8 and (outcomes == 2).all()
        linear, logarithmic = curves_figure.axes
        assert logarithmic.get_yscale() == "log"
        labels = [text.get_text() for text in linear.get_legend().get_texts()]
        n_bending = int((raw["manifest"]["family"] == 0).sum())
        assert labels[0] == f"bending-dominated, n = {n_bending}"
        assert labels[1] == f"stretching-dominated, n = {200 - n_bending}"
    finally:
        plt.close(images_figure)
        plt.close(curves_figure)


# ---------------------------------------------------------------- lattice ingestion node


def test_ingest_default_shapes_values_and_labels(raw40, tmp_path):
    raw, _ = raw40
    loaded = _written(raw, tmp_path).load()
    specimens, features, rejected = ingest(loaded, _ingestion_params())

    assert set(specimens) == {"images", "curves", "grid", "specimen_id"}
    assert specimens["images"].shape == (40, 1, 32, 32) and specimens["images"].dtype == np.float32
    assert specimens["curves"].shape == (40, 64) and specimens["curves"].dtype == np.float32
    np.testing.assert_allclose(specimens["grid"], np.linspace(0.0, 0.7, 64), atol=1e-7)
    assert specimens["specimen_id"].tolist() == raw["manifest"]["specimen_id"].tolist()
    assert list(features.columns) == ["specimen_id", *FEATURES]
    np.testing.assert_array_equal(features[FEATURES].to_numpy(), raw["manifest"][FEATURES].to_numpy())
    assert list(rejected.columns) == ["specimen_id", "file", "reason"] and rejected.empty

    # 64 -> 32 is an exact 2 x 2 box average of the stored 8-bit PNG
    png = loaded["images"]["lattice_00011"].astype(np.float64) / 255.0
    expected = png.reshape(32, 2, 32, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(specimens["images"][11, 0], expected, atol=1e-6)
    # curves: linear interpolation of the raw test onto the strain grid
    curve = raw["curves"]["lattice_00011"]
    np.testing.assert_allclose(
        specimens["curves"][11],
        np.interp(np.linspace(0.0, 0.7, 64), curve["strain"], curve["stress"]),
        rtol=1e-6,
        atol=1e-6,
    )


# ---------------------------------------------------------------- broken manifests


def _break(folder: Path, problem: str) -> str:
    """Break one specimen of a written 12-specimen folder; returns its id."""
    manifest = pd.read_csv(folder / "specimens.csv", dtype={"specimen_id": str})
    if problem == "missing image":
        (folder / "images" / "lattice_00001.png").unlink()
        return "lattice_00001"
    if problem == "nan curve":
        path = folder / "curves" / "lattice_00003.csv"
        curve = pd.read_csv(path)
        curve.loc[100, "stress"] = np.nan
        curve.to_csv(path, index=False)
        return "lattice_00003"
    if problem == "non-increasing strain":
        path = folder / "curves" / "lattice_00005.csv"
        curve = pd.read_csv(path)
        curve.iloc[[40, 41]] = curve.iloc[[41, 40]].to_numpy()
        curve.to_csv(path, index=False)
        return "lattice_00005"
    if problem == "duplicate id":
        duplicate = manifest[manifest["specimen_id"] == "lattice_00007"]
        pd.concat([manifest, duplicate], ignore_index=True).to_csv(folder / "specimens.csv", index=False)
        return "lattice_00007"
    raise AssertionError(problem)


REASONS = {
    "missing image": r"image: missing file \(no such file: .*lattice_00001\.png\)",
    "nan curve": r"bad curve: NaN or non-finite stress: 1 value\(s\), first at data row 100",
    "non-increasing strain": r"bad curve: strain is not strictly increasing: data rows 40 -> 41",
    "duplicate id": r"duplicate specimen_id: it appears 2 times in the manifest",
}


@pytest.fixture(scope="module")
def raw12() -> dict:
    raw, _ = generate_raw(_synthetic_params(12))
    return raw


def test_broken_specimens_are_listed_in_skip_mode(raw12, tmp_path):
    dataset = _written(raw12, tmp_path)
    broken = [_break(tmp_path, problem) for problem in REASONS]
    specimens, features, rejected = ingest(dataset.load(), _ingestion_params(on_error="skip"))

    kept = [f"lattice_{i:05d}" for i in range(12) if f"lattice_{i:05d}" not in broken]
    assert specimens["specimen_id"].tolist() == kept
    assert features["specimen_id"].tolist() == kept
    assert specimens["images"].shape == (8, 1, 32, 32) and specimens["curves"].shape == (8, 64)
    assert np.isfinite(specimens["curves"]).all()
    # each broken specimen once, the duplicated id for both of its rows, in manifest order
    assert rejected["specimen_id"].tolist() == [*broken[:3], broken[3], broken[3]]
    for (_, row), pattern in zip(rejected.iterrows(), [*REASONS.values(), REASONS["duplicate id"]], strict=True):
        assert re.match(pattern, row["reason"]), (row["reason"], pattern)
    assert rejected["file"].iloc[0].endswith("images/lattice_00001.png")
    assert rejected["file"].iloc[1].endswith("curves/lattice_00003.csv")
    assert rejected["file"].iloc[3].endswith("specimens.csv")


@pytest.mark.parametrize("problem", list(REASONS))
def test_raise_mode_names_the_specimen_and_the_problem(raw12, tmp_path, problem):
    dataset = _written(raw12, tmp_path)
    specimen_id = _break(tmp_path, problem)
    with pytest.raises(SpecimenError, match=rf"specimen '{specimen_id}', file .*: {REASONS[problem]}") as info:
        ingest(dataset.load(), _ingestion_params(on_error="raise"))
    assert info.value.specimen_id == specimen_id


def test_raise_mode_stops_at_the_first_problem_in_manifest_order(raw12, tmp_path):
    dataset = _written(raw12, tmp_path)
    for problem in ("duplicate id", "non-increasing strain", "nan curve", "missing image"):
        _break(tmp_path, problem)
    with pytest.raises(SpecimenError, match="specimen 'lattice_00001'.*missing file"):
        ingest(dataset.load(), _ingestion_params(on_error="raise"))


def test_sort_mode_keeps_a_shuffled_curve(raw12, tmp_path):
    dataset = _written(raw12, tmp_path)
    _break(tmp_path, "non-increasing strain")
    specimens, _, rejected = ingest(dataset.load(), _ingestion_params(non_increasing_strain="sort"))
    assert rejected.empty and len(specimens["specimen_id"]) == 12
    curve = raw12["curves"]["lattice_00005"]
    np.testing.assert_allclose(
        specimens["curves"][5],
        np.interp(np.linspace(0.0, 0.7, 64), curve["strain"], curve["stress"]),
        rtol=1e-6,
        atol=1e-6,
    )


def test_empty_rejected_table_is_written_with_its_header(raw12, tmp_path):
    _, _, rejected = ingest(_as_loaded(raw12), _ingestion_params())
    path = tmp_path / "rejected.csv"
    CSVDataset(filepath=str(path), save_args={"index": False}).save(rejected)
    assert path.read_text() == "specimen_id,file,reason\n"


# ---------------------------------------------------------------- pipelines and catalog


def test_pipelines_are_namespaced_and_wired():
    synthetic, ingestion = create_synthetic_pipeline(), create_ingestion_pipeline()
    assert synthetic.inputs() == {"params:lattice_synthetic"}
    assert synthetic.outputs() == {
        "lattice.true_dag",
        "lattice.sample_images_figure",
        "lattice.stress_strain_figure",
    }
    assert "lattice.raw_manifest" in synthetic.all_outputs()
    assert ingestion.inputs() == {"lattice.raw_manifest", "params:lattice_ingestion"}
    assert ingestion.all_outputs() == {"lattice.raw_specimens", "lattice.features", "lattice.rejected", "lattice.overview"}
    assert {n.name for n in ingestion.nodes} == {"ingestion.lattice.ingest", "ingestion.lattice.plot_overview"}
    full = ingestion + create_data_processing_pipeline(dataset="lattice")
    assert full.inputs() == {"lattice.raw_manifest", "params:lattice_ingestion", "params:data_processing_lattice"}


def test_catalog_has_the_lattice_entries_with_layers():
    """Explicit lattice entries, and the ingestion outputs every manifest data set gets from the factories."""
    with (CONF / "catalog.yml").open() as handle:
        config = yaml.safe_load(handle)
    layers = {
        "lattice.raw_manifest": "01_raw",
        "lattice.true_dag": "01_raw",
        "{dataset}.raw_specimens": "02_intermediate",
        "{dataset}.features": "02_intermediate",
        "{dataset}.rejected": "08_reporting",
        "{dataset}.overview": "08_reporting",
        "lattice.sample_images_figure": "08_reporting",
        "lattice.stress_strain_figure": "08_reporting",
    }
    for name, layer in layers.items():
        assert config[name]["metadata"]["kedro-viz"]["layer"] == layer, name
    catalog = DataCatalog.from_config({name: config[name] for name in layers})
    assert isinstance(catalog["lattice.raw_manifest"], SpecimenManifestDataset)
    for dataset in ("lattice", "mydata"):
        described = {name: catalog[f"{dataset}.{name}"]._describe() for name in ("raw_specimens", "features", "rejected")}
        assert described["raw_specimens"]["filepath"] == f"data/02_intermediate/{dataset}/specimens.npz"
        assert described["features"]["members"] == ["features.csv", "specimens.npz"]  # one unit (issue 24, item 2)
        assert str(described["rejected"]["filepath"]) == f"data/08_reporting/{dataset}/rejected.csv"
        overview = catalog[f"{dataset}.overview"]  # a figure logged to MLflow like the others
        assert type(overview).__name__ == "MlflowMatplotlibDataset" and overview.artifact_path == f"figures/{dataset}"
        assert str(overview._describe()["filepath"]) == f"data/08_reporting/{dataset}/overview.png"


def test_synthetic_ingestion_and_data_processing_through_sequential_runner(tmp_path):
    n = 60
    synthetic_params = _synthetic_params(n)
    # data_processing_lattice is data_processing with lattice_overrides laid over it: load it as kedro run does
    from kedro.config import OmegaConfigLoader

    from causal_pima.settings import CONFIG_LOADER_ARGS

    loader_args = {**CONFIG_LOADER_ARGS, "default_run_env": "base"}  # conf/base alone
    processing_params = OmegaConfigLoader(str(CONF.parent), **loader_args)["parameters"]["data_processing_lattice"]
    catalog = DataCatalog(
        {
            "lattice.raw_manifest": SpecimenManifestDataset(str(tmp_path / "01_raw" / "lattice")),
            "params:lattice_synthetic": MemoryDataset(synthetic_params),
            "params:lattice_ingestion": MemoryDataset(_ingestion_params()),
            "params:data_processing_lattice": MemoryDataset(processing_params),
        }
    )
    pipeline = (
        create_synthetic_pipeline()
        + create_ingestion_pipeline()
        + create_data_processing_pipeline(dataset="lattice")
    )
    assert pipeline.inputs() == {
        "params:lattice_synthetic",
        "params:lattice_ingestion",
        "params:data_processing_lattice",
    }
    figures_before = set(plt.get_fignums())
    outputs = SequentialRunner().run(pipeline, catalog)
    try:
        assert {
            "lattice.train_set",
            "lattice.val_set",
            "lattice.test_set",
            "lattice.true_dag",
            "lattice.rejected",
            "lattice.sample_images_figure",
            "lattice.stress_strain_figure",
            "lattice.overview",
        } <= set(outputs)
        # the overview: up to 4 images of each joint outcome of the 60 specimens
        per_outcome = pd.read_csv(tmp_path / "01_raw" / "lattice" / "specimens.csv").groupby(FEATURES).size()
        overview = outputs["lattice.overview"].load()
        assert len(per_outcome) == 8 and sum(bool(ax.images) for ax in overview.get_axes()) == per_outcome.clip(upper=4).sum()
        assert (tmp_path / "01_raw" / "lattice" / "specimens.csv").is_file()
        assert outputs["lattice.rejected"].load().empty
        assert outputs["lattice.true_dag"].load()["edges"] == [["family", "defect"], ["thickness", "defect"]]

        manifest = pd.read_csv(tmp_path / "01_raw" / "lattice" / "specimens.csv", dtype={"specimen_id": str})
        truth = manifest.set_index("specimen_id")[FEATURES]
        indices = []
        for name, size in (("train", 48), ("val", 6), ("test", 6)):
            data = outputs[f"lattice.{name}_set"].load()
            assert data["images"].shape == (size, 1, 32, 32) and data["images"].dtype == np.float32
            assert data["curves"].shape == (size, 64) and data["curves"].dtype == np.float32
            np.testing.assert_allclose(data["grid"], np.linspace(0.0, 0.7, 64), atol=1e-7)
            assert list(data["label_names"]) == FEATURES
            np.testing.assert_array_equal(data["labels"], truth.loc[list(data["specimen_id"])].to_numpy())
            indices.append(data["index"])
        assert sorted(np.concatenate(indices).tolist()) == list(range(n))
    finally:
        for number in set(plt.get_fignums()) - figures_before:
            plt.close(number)

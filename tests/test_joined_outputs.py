"""Outputs that belong together are refused when mixed (issue 24, items 2 and 5): real processes killed with SIGKILL.

The project's own catalog entries (conf/base/catalog.yml) write the files; a writer process kills
itself (SIGKILL: no clean-up code runs) between two members of a unit, as `kill -9` during a run would.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, DatasetError

from causal_pima.data.processing import SpecimenValidationError, validate_specimens

CATALOG = Path(__file__).resolve().parents[1] / "conf" / "base" / "catalog.yml"
UNIT_ENTRIES = ("{dataset}.raw_specimens", "{dataset}.features", "{dataset}.split", "{dataset}.curve_scaler", "{dataset}.{split}_set")

WRITER = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np, pandas as pd, yaml
    from kedro.io import DataCatalog
    conf = yaml.safe_load(open(sys.argv[1]))
    catalog = DataCatalog.from_config({k: v for k, v in conf.items() if k in sys.argv[2].split(",")})
    order = [int(i) for i in sys.argv[3].split(",")]
    ids = np.array([f"L{i:03d}" for i in order])
    outputs = {
        "lattice.raw_specimens": {"specimen_id": ids, "images": np.full((len(ids), 1, 4, 4), 0.5, np.float32),
                                  "curves": np.asarray(order, np.float32)[:, None].repeat(3, 1), "grid": np.arange(3.0)},
        "lattice.features": pd.DataFrame({"specimen_id": ids, "defect": [i % 2 for i in order]}),
        "lattice.split": pd.DataFrame({"index": range(len(ids)), "split": ["train"] * len(ids)}),
        "lattice.curve_scaler": {"transform": "linear", "mean": order[:1]},
        "lattice.train_set": {"images": np.full((2, 1, 4, 4), order[0], np.float32), "index": np.arange(2)},
        "lattice.val_set": {"images": np.full((1, 1, 4, 4), order[0], np.float32), "index": np.arange(1)},
        "lattice.test_set": {"images": np.full((1, 1, 4, 4), order[0], np.float32), "index": np.arange(1)},
    }
    for name in sys.argv[4].split(","):
        catalog.save(name, outputs[name])
    if sys.argv[5] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _write(folder: Path, order: list[int], names: list[str], kill: bool) -> int:
    process = subprocess.run(
        [sys.executable, "-c", WRITER, str(CATALOG), ",".join(UNIT_ENTRIES), ",".join(map(str, order)), ",".join(names),
         "kill" if kill else "end"],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )
    assert process.returncode == (-9 if kill else 0), process.stderr
    return process.returncode


def _catalog() -> DataCatalog:
    conf = yaml.safe_load(CATALOG.read_text())
    return DataCatalog.from_config({k: v for k, v in conf.items() if k in UNIT_ENTRIES})


def test_a_run_killed_between_the_specimens_and_their_features_leaves_a_pair_every_load_refuses(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pair = ["lattice.raw_specimens", "lattice.features"]
    _write(tmp_path, [0, 1, 2, 3], pair, kill=False)
    catalog = _catalog()
    assert list(catalog.load("lattice.features")["specimen_id"]) == ["L000", "L001", "L002", "L003"]
    # the manifest re-ingested in reverse order; killed right after specimens.npz was replaced
    _write(tmp_path, [3, 2, 1, 0], pair[:1], kill=True)
    for name in pair:
        with pytest.raises(DatasetError, match=r"is incomplete: a write started at .* did not finish \(rewritten: specimens\.npz; "
                                              r"not rewritten: features\.csv"):
            _catalog().load(name)
    _write(tmp_path, [3, 2, 1, 0], pair, kill=False)  # written again as a whole: accepted
    assert list(_catalog().load("lattice.raw_specimens")["specimen_id"]) == ["L003", "L002", "L001", "L000"]


def test_specimens_and_features_of_different_runs_are_refused_by_their_ids():
    """Files placed by hand (no checksums) still cannot mix: the ids are compared row by row, not only counted."""
    ids = np.array(["L000", "L001", "L002"])
    raw = {"specimen_id": ids, "images": np.full((3, 1, 4, 4), 0.5), "curves": np.zeros((3, 3)), "grid": np.arange(3.0)}
    features = pd.DataFrame({"specimen_id": ids[::-1], "defect": [0, 1, 0]})
    with pytest.raises(SpecimenValidationError, match=r"do not belong together: row 0 is specimen 'L000' in specimens\.npz but "
                                                      r"'L002' in features\.csv \(2 of 3 rows differ\)"):
        validate_specimens(raw, features, {})
    assert validate_specimens(raw, features.iloc[::-1].reset_index(drop=True), {})["n_specimens"] == 3


def test_a_run_killed_while_writing_the_model_input_leaves_a_unit_every_load_refuses(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    unit = ["lattice.split", "lattice.curve_scaler", "lattice.train_set", "lattice.val_set", "lattice.test_set"]
    _write(tmp_path, [7, 8], unit, kill=False)
    assert float(_catalog().load("lattice.val_set")["images"][0, 0, 0, 0]) == 7.0
    _write(tmp_path, [5, 6], unit[:3], kill=True)  # new split, scaler and train set; old val and test
    for name in ("lattice.val_set", "lattice.split"):
        with pytest.raises(DatasetError, match=r"05_model_input/lattice is incomplete: .*\(rewritten: curve_scaler\.json, "
                                              r"split\.csv, train; not rewritten: val, test"):
            _catalog().load(name)
    _write(tmp_path, [5, 6], unit, kill=False)
    catalog = _catalog()
    assert float(catalog.load("lattice.val_set")["images"][0, 0, 0, 0]) == 5.0
    scaler = tmp_path / "data" / "05_model_input" / "lattice" / "curve_scaler.json"
    scaler.write_text('{"transform": "asinh"}')  # changed after the unit was written
    with pytest.raises(DatasetError, match=r"1 of the 1 file\(s\) of 'curve_scaler\.json' differ \(curve_scaler\.json: sha256"):
        _catalog().load("lattice.curve_scaler")
    images = tmp_path / "data" / "05_model_input" / "lattice" / "train" / "images.npy"
    np.save(images, np.zeros((2, 1, 4, 4), np.float32))  # an array replaced by hand
    with pytest.raises(DatasetError, match=r"of 'train' differ \(train/images\.npy: sha256"):
        _catalog().load("lattice.train_set")

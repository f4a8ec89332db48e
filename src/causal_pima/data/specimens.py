"""Validate and resample a loaded specimen manifest (README "Lattice specimens and your own data").

Input is what ``causal_pima.datasets.SpecimenManifestDataset.load`` returns: the manifest table
(``specimen_id``, ``image``, ``curve`` paths relative to the manifest's folder, optional label and
geometry columns) and per-specimen images / curve tables, where a file that could not be read is
replaced by a message string. Output is the model-ready specimen set: images centre-cropped and
resized to ``[N, C, S, S]`` in ``[0, 1]``, curves resampled onto one strain grid ``[N, L]``, labels,
and a table of rejected specimens. An EMPTY ``image`` or ``curve`` cell means the specimen was not measured
that way: it is kept with a NaN image / curve row (the model fuses it from its other modalities); a
specimen with no modality at all (both cells empty, no column-group values) is a problem like any other.

Every problem (missing or unreadable file, a path outside the data folder, an image above the pixel
limit, an image file above the byte limit, too few points, NaN, infinite or float32-overflowing values,
strain not increasing, duplicate id, an id longer than ``MAX_SPECIMEN_ID_LENGTH``, a label other than
0 / 1, a curve that does not cover the grid, ...) either raises a ``SpecimenError`` naming the specimen, the
file and the problem (``on_error: raise``) or puts the specimen in the rejected table with that
reason (``on_error: skip``). Nothing is dropped silently. Header names are stripped of surrounding
spaces. Pure functions, no file I/O of their own apart from the size of each image file (``os.stat``,
checked against ``max_image_bytes`` before the file is read): large images are read through the loaded
mapping's ``read(id, min_side, max_pixels)`` (``SpecimenImages``), which reduces them while decoding.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from causal_pima.core.modality_spec import file_specs, tabular_specs

logger = logging.getLogger(__name__)

REJECTED_COLUMNS = ("specimen_id", "file", "reason")
# The manifest columns naming a specimen's files ({modality: column}, from the specs: image, curve); an empty
# cell: not measured that way.
FILE_COLUMNS = {m: spec.manifest_column for m, spec in file_specs().items()}
# Manifest columns that are not labels.
STRUCTURE_COLUMNS = ("specimen_id", *FILE_COLUMNS.values())
# Longest specimen_id accepted (characters). The specimen set stores the ids as one fixed-width numpy
# string array, which pads every id to the longest (4 bytes per character): a single 1 MB id made a 1 MB
# manifest an 800 MB specimens.npz (issue 24). A longer id is a per-specimen problem ("too long").
MAX_SPECIMEN_ID_LENGTH = 256
# Characters of an over-long id kept where the id is reported (rejected table, error, log).
_SHOWN_ID_CHARACTERS = 64
# Allowance for an image file's header and metadata in the default max_image_bytes (1 MiB).
IMAGE_HEADER_BYTES = 2**20


class SpecimenError(ValueError):
    """A specimen (or the manifest) failed validation.

    Attributes:
        specimen_id: the offending specimen (``None`` for a manifest-level problem).
        file: the file involved.
        problem: what is wrong, in words.
    """

    def __init__(self, specimen_id: str | None, file: str, problem: str) -> None:
        self.specimen_id = specimen_id
        self.file = file
        self.problem = problem
        where = (
            f"specimen {specimen_id!r}, file {file}" if specimen_id is not None else f"file {file}"
        )
        super().__init__(f"{where}: {problem}")


class _Problem(Exception):
    """Internal: one specimen's problem, before the specimen id and file are attached."""

    def __init__(self, problem: str, file: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.file = file


@dataclass(frozen=True)
class IngestionConfig:
    """Ingestion parameters; build from a params dict with ``IngestionConfig(**params)``.

    Attributes:
        image_size: side ``S`` of the square output images.
        channels: 1 (grayscale; RGB is converted by luminance) or 3 (grayscale is repeated).
        n_grid_points, min_strain, max_strain: the common strain grid ``linspace(min, max, n)``.
        curve_type: ``"auto"`` (strain/stress columns if present, else force/displacement),
            ``"stress_strain"`` or ``"force_displacement"``.
        strain_column, stress_column, force_column, displacement_column: curve column names.
        gauge_length, cross_section_area: specimen geometry for force/displacement curves, used where
            the manifest has no (or a missing) value in ``gauge_length_column`` /
            ``cross_section_area_column``. Units must match: stress = force / area,
            strain = displacement / gauge length.
        strain_scale: multiplies strain after conversion (0.01 for strain in percent).
        min_points: fewest points a curve may have (after merging duplicate strains when sorting).
        non_increasing_strain: ``"reject"`` a curve whose strain is not strictly increasing, or
            ``"sort"`` it by strain (points with equal strain are averaged).
        on_error: ``"raise"`` at the first problem, or ``"skip"`` the specimen and list it.
        label_columns: manifest columns to keep as labels; ``None`` keeps every column that is not
            ``specimen_id``, ``image``, ``curve``, a geometry column or in a column group. Every label must be 0 or 1
            (``0``, ``1``, ``"0"``, ``"1"``, ``0.0``, ``1.0``, ``True``, ``False``).
        max_image_pixels: largest image (width x height of the stored file) read; a larger one is a
            per-specimen problem ("too large") instead of a decompression-bomb error or an
            out-of-memory. Images are reduced to about ``image_size`` while they are read, so memory
            stays near one decoded image at its stored bit depth (at most this many pixels).
        max_image_bytes: largest image file (bytes on disk) read; a larger file is a per-specimen
            problem ("image file too large") found from its size before anything is read. ``None``:
            :meth:`image_byte_limit`, ``max_image_pixels x channels x 8`` (a float64 image of the
            largest allowed size) plus 1 MiB for the header. It bounds what the pixel limit does not: an
            819 MB thin NPY image under the pixel limit used to cost 1.6 GB to read. Images given in
            memory (no file) are not checked.
        column_groups: ``{modality: [manifest columns]}``: the columns read as a tabular modality's
            values (``core.modality_spec``, e.g. ``scalar: [density, mass]``), one number per column and
            specimen; an empty cell marks the modality missing for that specimen (a NaN row: the
            product of experts leaves it out), a value that is not a number is that specimen's problem.
    """

    image_size: int = 32
    channels: int = 1
    n_grid_points: int = 64
    min_strain: float = 0.0
    max_strain: float = 0.7
    curve_type: str = "auto"
    strain_column: str = "strain"
    stress_column: str = "stress"
    force_column: str = "force"
    displacement_column: str = "displacement"
    gauge_length: float | None = None
    cross_section_area: float | None = None
    gauge_length_column: str = "gauge_length"
    cross_section_area_column: str = "cross_section_area"
    strain_scale: float = 1.0
    min_points: int = 8
    non_increasing_strain: str = "reject"
    on_error: str = "raise"
    label_columns: Sequence[str] | None = None
    max_image_pixels: int = 64_000_000
    max_image_bytes: int | None = None
    column_groups: dict[str, list[str]] | None = None

    def __post_init__(self) -> None:
        problems = []
        known = tabular_specs()
        for modality, columns in (self.column_groups or {}).items():
            if modality not in known:
                problems.append(f"column_groups names {modality!r}, not a tabular modality (those: {sorted(known)})")
            elif not columns:
                problems.append(f"column_groups.{modality} must name at least one manifest column")
        if self.image_size < 1:
            problems.append(f"image_size must be >= 1, got {self.image_size}")
        if self.channels not in (1, 3):
            problems.append(f"channels must be 1 or 3, got {self.channels}")
        if self.n_grid_points < 2:
            problems.append(f"n_grid_points must be >= 2, got {self.n_grid_points}")
        if not self.min_strain < self.max_strain:
            problems.append(
                f"need min_strain < max_strain, got {self.min_strain} and {self.max_strain}"
            )
        if self.curve_type not in ("auto", "stress_strain", "force_displacement"):
            problems.append(
                "curve_type must be 'auto', 'stress_strain' or 'force_displacement', "
                f"got {self.curve_type!r}"
            )
        if self.min_points < 2:
            problems.append(f"min_points must be >= 2, got {self.min_points}")
        if self.non_increasing_strain not in ("reject", "sort"):
            problems.append(
                f"non_increasing_strain must be 'reject' or 'sort', got {self.non_increasing_strain!r}"
            )
        if self.on_error not in ("raise", "skip"):
            problems.append(f"on_error must be 'raise' or 'skip', got {self.on_error!r}")
        if not (isinstance(self.max_image_pixels, int | np.integer) and self.max_image_pixels >= 1):
            problems.append(f"max_image_pixels must be an integer >= 1, got {self.max_image_pixels!r}")
        if self.max_image_bytes is not None and not (
            isinstance(self.max_image_bytes, int | np.integer) and not isinstance(self.max_image_bytes, bool)
            and self.max_image_bytes >= 1
        ):
            problems.append(f"max_image_bytes must be null or an integer >= 1, got {self.max_image_bytes!r}")
        if not self.strain_scale > 0:
            problems.append(f"strain_scale must be > 0, got {self.strain_scale}")
        if problems:
            raise ValueError("invalid IngestionConfig: " + "; ".join(problems))

    def grid(self) -> np.ndarray:
        """The common strain grid, float64 ``[n_grid_points]``."""
        return strain_grid(self.n_grid_points, self.max_strain, self.min_strain)

    def image_byte_limit(self) -> int:
        """``max_image_bytes``, or when it is ``None`` ``max_image_pixels x channels x 8 + 1 MiB``."""
        if self.max_image_bytes is not None:
            return int(self.max_image_bytes)
        return int(self.max_image_pixels) * int(self.channels) * 8 + IMAGE_HEADER_BYTES


# ------------------------------------------------------------------------------- pure building blocks


def strain_grid(n_points: int = 64, max_strain: float = 0.7, min_strain: float = 0.0) -> np.ndarray:
    """Evenly spaced strains ``[n_points]`` from ``min_strain`` to ``max_strain`` (both included)."""
    return np.linspace(float(min_strain), float(max_strain), int(n_points))


def force_displacement_to_stress_strain(
    force: np.ndarray, displacement: np.ndarray, gauge_length: float, cross_section_area: float
) -> tuple[np.ndarray, np.ndarray]:
    """Engineering strain and stress: ``strain = displacement / L0``, ``stress = force / A``.

    Args:
        force, displacement: ``[n]``.
        gauge_length: ``L0 > 0`` (same length unit as the displacement).
        cross_section_area: ``A > 0`` (stress unit = force unit / area unit, e.g. N / mm^2 = MPa).

    Returns:
        ``(strain [n], stress [n])`` float64.
    """
    if not (np.isfinite(gauge_length) and gauge_length > 0):
        raise ValueError(f"gauge length must be a positive number, got {gauge_length}")
    if not (np.isfinite(cross_section_area) and cross_section_area > 0):
        raise ValueError(f"cross-section area must be a positive number, got {cross_section_area}")
    strain = np.asarray(displacement, dtype=np.float64) / float(gauge_length)
    stress = np.asarray(force, dtype=np.float64) / float(cross_section_area)
    return strain, stress


def resample_curve(strain: np.ndarray, stress: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Piecewise-linear interpolation of a curve onto ``grid`` (``np.interp``).

    Args:
        strain: ``[n]`` strictly increasing, covering ``grid``.
        stress: ``[n]``.
        grid: ``[L]``.

    Returns:
        float64 ``[L]``.
    """
    return np.interp(np.asarray(grid, dtype=np.float64), strain, stress)


def image_to_unit_float(image: np.ndarray) -> np.ndarray:
    """Pixel values as float32 in ``[0, 1]``: uint8 / 255, uint16 / 65535, bool as 0/1, floats as is.

    Raises:
        ValueError: for an unsupported dtype, NaN, or float values outside ``[0, 1]``.
    """
    image = np.asarray(image)
    if image.dtype == np.bool_:
        return image.astype(np.float32)
    if image.dtype == np.uint8:
        return image.astype(np.float32) / np.float32(255.0)
    if image.dtype == np.uint16:
        return image.astype(np.float32) / np.float32(65535.0)
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        if image.size and (image.min() < 0 or image.max() > 255):
            raise ValueError(
                f"integer image of dtype {image.dtype} with values outside 0..255 "
                f"(min {image.min()}, max {image.max()}, dtype range {info.min}..{info.max})"
            )
        return image.astype(np.float32) / np.float32(255.0)
    if np.issubdtype(image.dtype, np.floating):
        values = image.astype(np.float32)
        if np.isnan(values).any():
            raise ValueError(f"image contains NaN ({int(np.isnan(values).sum())} pixels)")
        if values.size and (values.min() < 0.0 or values.max() > 1.0):
            raise ValueError(
                f"float image values outside [0, 1] (min {values.min():.4g}, max {values.max():.4g})"
            )
        return values
    raise ValueError(f"unsupported image dtype {image.dtype}")


def centre_crop_resize(image: np.ndarray, size: int, channels: int = 1) -> np.ndarray:
    """Centre-crop to a square, resize to ``size x size``, convert to ``channels``.

    The crop keeps the central ``min(H, W)`` rows / columns (the extra pixel of an odd margin is
    dropped on the bottom / right). Shrinking averages over pixel areas (box filter); enlarging is
    bilinear; an image already ``size`` square is returned unchanged. RGB -> gray by luminance
    ``0.299 R + 0.587 G + 0.114 B``; gray -> RGB by repetition; an alpha channel is dropped.

    Args:
        image: ``[H, W]`` or ``[H, W, C]`` (C in 1..4), any dtype accepted by
            :func:`image_to_unit_float`.
        size: output side.
        channels: 1 or 3.

    Returns:
        float32 ``[channels, size, size]`` in ``[0, 1]``.
    """
    pixels = image_to_unit_float(image)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4) or min(pixels.shape[:2]) < 1:
        raise ValueError(
            f"image has shape {tuple(np.shape(image))}; expected [H, W] or [H, W, C<=4]"
        )
    if pixels.shape[2] in (2, 4):  # gray + alpha, RGB + alpha
        pixels = pixels[:, :, :-1]
    if channels == 1 and pixels.shape[2] == 3:
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        pixels = (pixels * weights).sum(axis=2, keepdims=True, dtype=np.float32)
    elif channels == 3 and pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    elif channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")

    height, width = pixels.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    pixels = pixels[top : top + side, left : left + side, :]
    if side != size:
        resample = Image.Resampling.BOX if side > size else Image.Resampling.BILINEAR
        pixels = np.stack(
            [
                np.asarray(
                    Image.fromarray(np.ascontiguousarray(pixels[:, :, c])).resize(
                        (size, size), resample=resample
                    ),
                    dtype=np.float32,
                )
                for c in range(pixels.shape[2])
            ],
            axis=2,
        )
    return np.clip(np.transpose(pixels, (2, 0, 1)), 0.0, 1.0).astype(np.float32)


def clean_curve(
    strain: np.ndarray, stress: np.ndarray, config: IngestionConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Check one curve (already in strain / stress) and return it ready for :func:`resample_curve`.

    Checks, in order: NaN / non-finite values; strain strictly increasing (else reject, or sort and
    average equal strains, per ``non_increasing_strain``); at least ``min_points`` points; the curve
    covers ``[min_strain, max_strain]``.

    Raises:
        ValueError: with the problem in words.
    """
    strain = np.asarray(strain, dtype=np.float64)
    stress = np.asarray(stress, dtype=np.float64)
    for name, values in (("strain", strain), ("stress", stress)):
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(
                f"NaN or non-finite {name}: {int(bad.sum())} value(s), first at data row "
                f"{int(np.flatnonzero(bad)[0])}"
            )
    if strain.size >= 2:
        step = np.diff(strain)
        if (step <= 0).any():
            first = int(np.flatnonzero(step <= 0)[0])
            if config.non_increasing_strain == "reject":
                raise ValueError(
                    "strain is not strictly increasing: data rows "
                    f"{first} -> {first + 1} go from {strain[first]:.6g} to {strain[first + 1]:.6g}"
                )
            strain, stress = _sorted_unique(strain, stress)
    if strain.size < config.min_points:
        raise ValueError(f"too few points: {strain.size} < min_points {config.min_points}")
    tolerance = 1e-9 * max(1.0, abs(config.max_strain))
    if strain[0] > config.min_strain + tolerance:
        raise ValueError(
            f"curve starts at strain {strain[0]:.6g}, above the grid minimum {config.min_strain:.6g}"
        )
    if strain[-1] < config.max_strain - tolerance:
        raise ValueError(
            f"curve does not reach the grid maximum strain {config.max_strain:.6g}: "
            f"it ends at {strain[-1]:.6g}"
        )
    return strain, stress


# ------------------------------------------------------------------------------------ the node


def ingest_specimens(
    raw_specimens: Mapping, params: Mapping | None = None
) -> tuple[dict[str, np.ndarray], pd.DataFrame, pd.DataFrame]:
    """Kedro node: validate a loaded manifest, crop/resize images, resample curves.

    Args:
        raw_specimens: ``SpecimenManifestDataset.load()`` output: ``{"manifest": DataFrame,
            "images": {id: array | message}, "curves": {id: DataFrame | message}, "folder": str}``
            (optional ``"manifest_file"``).
        params: keyword arguments of :class:`IngestionConfig`.

    Returns:
        ``(specimens, labels, rejected)``:

        * ``specimens``: ``{"specimen_id": str [N], "images": float32 [N, C, S, S] in [0, 1],
          "curves": float32 [N, L], "strain_grid": float32 [L]}``, manifest order (a NaN row where the
          manifest's path cell is empty: not measured);
        * ``labels``: DataFrame ``[N]``, ``specimen_id`` plus the label columns;
        * ``rejected``: DataFrame with columns ``specimen_id, file, reason`` (empty if none).

    Raises:
        SpecimenError: at the first problem with ``on_error: raise``; for a manifest without the
            ``specimen_id`` / ``image`` / ``curve`` columns; or when every specimen is rejected.
    """
    config = IngestionConfig(**dict(params or {}))
    return prepare_specimens(
        raw_specimens["manifest"],
        raw_specimens.get("images", {}),
        raw_specimens.get("curves", {}),
        config,
        folder=raw_specimens.get("folder"),
        manifest_file=raw_specimens.get("manifest_file"),
    )


def prepare_specimens(
    manifest: pd.DataFrame,
    images: Mapping[str, np.ndarray | str],
    curves: Mapping[str, pd.DataFrame | str],
    config: IngestionConfig | None = None,
    folder: str | None = None,
    manifest_file: str | None = None,
) -> tuple[dict[str, np.ndarray], pd.DataFrame, pd.DataFrame]:
    """Same as :func:`ingest_specimens`, with the pieces passed separately (see there)."""
    config = IngestionConfig() if config is None else config
    manifest_name = manifest_file or (
        os.path.join(folder, "specimens.csv") if folder else "manifest"
    )
    manifest = manifest.rename(columns=_stripped)
    if "specimen_id" not in manifest.columns:
        raise SpecimenError(
            None,
            manifest_name,
            f"manifest lacks the 'specimen_id' column; it has {list(manifest.columns)}",
        )
    label_columns = _label_columns(manifest, config, manifest_name)
    groups = _column_groups(manifest, config, manifest_name)
    grid = config.grid()
    ids = [_specimen_id(value) for value in manifest["specimen_id"]]
    counts = pd.Series([i for i in ids if i]).value_counts()

    accepted_rows, accepted_images, accepted_curves, rejected = [], [], [], []
    accepted_tables: dict[str, list[list[float]]] = {modality: [] for modality in groups}
    n_colour = 0  # RGB(A) images made greyscale (channels: 1)
    for row, specimen_id in enumerate(ids):
        record = manifest.iloc[row]
        try:
            _check_specimen_id(specimen_id, row, counts, manifest_name)
            for column in label_columns:
                _label_value(record[column], column, manifest_name)
            tables = {m: [_table_value(record[c], m, c, manifest_name) for c in columns] for m, columns in groups.items()}
            _check_measured(record, tables, manifest_name)
            image, colour = _specimen_image(record, specimen_id, images, config, folder)
            curve = _specimen_curve(record, specimen_id, curves, grid, config, folder)
            n_colour += colour
        except _Problem as problem:
            shown = _reported_id(specimen_id)
            error = SpecimenError(shown or None, problem.file or "", problem.problem)
            if config.on_error == "raise":
                raise error from None
            logger.warning("skipping specimen: %s", error)
            rejected.append((csv_safe(shown), problem.file or "", problem.problem))
            continue
        accepted_rows.append(row)
        accepted_images.append(image)
        accepted_curves.append(curve)
        for modality, values in tables.items():
            accepted_tables[modality].append(values)

    if n_colour:
        logger.info(
            "%d RGB images converted to greyscale (channels: 1); set lattice_ingestion.channels: 3 to keep colour", n_colour
        )
    _log_not_measured(accepted_images, accepted_curves)
    rejected_table = _rejected_table(rejected, len(ids), manifest_name)
    accepted_ids = np.array([ids[row] for row in accepted_rows], dtype=str)
    specimens = {
        "specimen_id": accepted_ids,
        "images": np.stack(accepted_images).astype(np.float32),
        "curves": np.stack(accepted_curves).astype(np.float32),
        "strain_grid": grid.astype(np.float32),
    }
    for modality, rows in accepted_tables.items():  # [N, S], a NaN row where the specimen misses it
        specimens[tabular_specs()[modality].array_key] = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
    return specimens, _accepted_labels(manifest, accepted_rows, accepted_ids, label_columns, manifest_name), rejected_table


def not_measured(record: pd.Series, column: str) -> bool:
    """Whether the manifest row leaves the file path cell ``column`` empty (blank, NaN or None): the specimen
    was not measured that way. A row without that column names its file elsewhere (in memory)."""
    if column not in record.index:
        return False
    value = record[column]
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) or not str(value).strip()


def _check_measured(record: pd.Series, tables: Mapping[str, list[float]], manifest_name: str) -> None:
    """A specimen needs at least one modality: a file path or a column group's values."""
    if all(not_measured(record, c) for c in FILE_COLUMNS.values()) and all(np.isnan(v).any() for v in tables.values()):
        groups = f" and no values in the column groups {sorted(tables)}" if tables else ""
        raise _Problem(f"no modality measured: the {' and '.join(FILE_COLUMNS.values())} path cells are empty{groups}",
                       manifest_name)


def _specimen_image(
    record: pd.Series, specimen_id: str, images: Mapping, config: IngestionConfig, folder: str | None
) -> tuple[np.ndarray, int]:
    """``(image float32 [C, S, S], 1 if an RGB image was made greyscale else 0)``; a NaN image for a
    specimen whose image path cell is empty (not measured)."""
    if not_measured(record, FILE_COLUMNS["image"]):
        return np.full((config.channels, config.image_size, config.image_size), np.nan, dtype=np.float32), 0
    image_file = _joined(folder, record.get(FILE_COLUMNS["image"], f"<image of {specimen_id}>"))
    _check_image_file_size(images, specimen_id, config, image_file)
    raw_image = _image_of(images, specimen_id, config)
    colour = int(config.channels == 1 and len(np.shape(raw_image)) == 3 and np.shape(raw_image)[2] in (3, 4))
    return _prepared_image(raw_image, config, image_file), colour


def _specimen_curve(
    record: pd.Series, specimen_id: str, curves: Mapping, grid: np.ndarray, config: IngestionConfig, folder: str | None
) -> np.ndarray:
    """The curve resampled on ``grid`` ``[L]``; a NaN curve for a specimen whose curve path cell is empty."""
    if not_measured(record, FILE_COLUMNS["curve"]):
        return np.full(len(grid), np.nan)
    curve_file = _joined(folder, record.get(FILE_COLUMNS["curve"], f"<curve of {specimen_id}>"))
    return _prepared_curve(curves.get(specimen_id), record, grid, config, curve_file)


def _log_not_measured(images: list[np.ndarray], curves: list[np.ndarray]) -> None:
    """One line counting the kept specimens without an image / a curve (empty path cells)."""
    counts = {m: sum(bool(np.isnan(v).all()) for v in values) for m, values in (("image", images), ("curve", curves))}
    if any(counts.values()):
        logger.info("specimens not measured (empty path cells; kept, fused from their other modalities): %s",
                    ", ".join(f"{n} without {m}" for m, n in counts.items()))


def _rejected_table(rejected: list[tuple[str, str, str]], n_specimens: int, manifest_name: str) -> pd.DataFrame:
    """The rejected specimens as a table; a ``SpecimenError`` when every specimen was rejected."""
    table = pd.DataFrame(rejected, columns=list(REJECTED_COLUMNS))
    if len(rejected) == n_specimens:
        raise SpecimenError(
            None,
            manifest_name,
            f"no specimen passed validation ({len(rejected)} rejected; first reasons: {table['reason'].head(3).tolist()})",
        )
    if rejected:
        logger.warning("%d of %d specimens rejected (see the rejected table)", len(rejected), n_specimens)
    return table


def _accepted_labels(
    manifest: pd.DataFrame, accepted_rows: list[int], accepted_ids: np.ndarray, label_columns: list[str], manifest_name: str
) -> pd.DataFrame:
    """The labels table of the accepted manifest rows: ``specimen_id`` then every label column as int64."""
    labels = manifest.iloc[accepted_rows][label_columns].reset_index(drop=True)
    for column in label_columns:
        labels[column] = [_label_value(v, column, manifest_name) for v in labels[column]]
        labels[column] = labels[column].astype(np.int64)
    labels.insert(0, "specimen_id", accepted_ids)
    return labels


# ---------------------------------------------------------------------------------------- helpers


def _stripped(column: object) -> object:
    return column.strip() if isinstance(column, str) else column


def _check_specimen_id(specimen_id: str, row: int, counts: pd.Series, manifest_name: str) -> None:
    """A manifest row's id: present, at most ``MAX_SPECIMEN_ID_LENGTH`` characters, unique in the manifest
    (``counts``), not a spreadsheet formula; raises ``_Problem`` naming the manifest otherwise."""
    if not specimen_id:
        raise _Problem(f"missing specimen_id (manifest row {row})", manifest_name)
    if len(specimen_id) > MAX_SPECIMEN_ID_LENGTH:
        raise _Problem(
            f"specimen_id too long: {len(specimen_id)} characters, above the limit of "
            f"{MAX_SPECIMEN_ID_LENGTH} (causal_pima.data.specimens.MAX_SPECIMEN_ID_LENGTH; the ids are "
            "stored as fixed-width strings, padded to the longest); shorten it in the manifest",
            manifest_name,
        )
    if counts[specimen_id] > 1:
        raise _Problem(f"duplicate specimen_id: it appears {counts[specimen_id]} times in the manifest", manifest_name)
    if is_formula_like(specimen_id):
        raise _Problem(
            f"specimen_id starts with {specimen_id[0]!r}: spreadsheet programs run such a cell as a formula "
            "(CSV injection), so it is refused; rename the specimen in the manifest",
            manifest_name,
        )


def _reported_id(specimen_id: str) -> str:
    """The id as reported (rejected table, error, log): an id above ``MAX_SPECIMEN_ID_LENGTH`` is cut to
    its first characters and its length, so that a 1 MB id does not make a 1 MB report line."""
    if len(specimen_id) <= MAX_SPECIMEN_ID_LENGTH:
        return specimen_id
    return f"{specimen_id[:_SHOWN_ID_CHARACTERS]}... ({len(specimen_id)} characters)"


def _check_image_file_size(images: Mapping, specimen_id: str, config: IngestionConfig, file: str) -> None:
    """Refuse an image file above ``config.image_byte_limit()`` from its size alone, before it is read.

    Only a mapping that knows its files (``SpecimenImages.path``) is checked; a missing or unreadable
    file is left to the reader, which names it."""
    path_of = getattr(images, "path", None)
    if not callable(path_of) or specimen_id not in images:
        return
    try:
        path = path_of(specimen_id)
        size = os.stat(path).st_size if path is not None else None
    except (OSError, KeyError, TypeError):
        return
    limit = config.image_byte_limit()
    if size is not None and size > limit:
        rule = (
            f"lattice_ingestion.max_image_bytes = {config.max_image_bytes}"
            if config.max_image_bytes is not None
            else f"lattice_ingestion.max_image_bytes = null: max_image_pixels {config.max_image_pixels} x channels "
            f"{config.channels} x 8 bytes + 1 MiB"
        )
        raise _Problem(
            f"image file too large: {size} bytes ({size / 2**20:,.1f} MiB), above the limit of {limit} bytes "
            f"({limit / 2**20:,.1f} MiB; {rule}); the file was not read. Raise lattice_ingestion.max_image_bytes "
            "if the machine has the memory for it",
            file,
        )


def _image_of(images: Mapping, specimen_id: str, config: IngestionConfig) -> np.ndarray | str | None:
    """One specimen's image: through a lazy reader (reduced while decoded) or from a plain dict."""
    if specimen_id not in images:
        return None
    reader = getattr(images, "read", None)
    if callable(reader):
        return reader(specimen_id, min_side=config.image_size, max_pixels=config.max_image_pixels)
    return images[specimen_id]


def _label_value(value: object, column: str, file: str) -> int:
    """A label as int 0 / 1; anything else is this specimen's problem (in the manifest file)."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    parsed: float | None = None
    if isinstance(value, int | float | np.integer | np.floating):
        parsed = float(value)
    elif isinstance(value, str) and value.strip() in ("0", "1", "0.0", "1.0"):
        parsed = float(value.strip())
    if parsed is not None and parsed in (0.0, 1.0):
        return int(parsed)
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        shown = "missing (empty)"
    else:
        shown = f"{value.item() if isinstance(value, np.generic) else value!r}"
    raise _Problem(f"label column {column!r} is {shown}, expected 0 or 1", file)


def _prepared_image(
    image: np.ndarray | str | None, config: IngestionConfig, file: str
) -> np.ndarray:
    if image is None:
        raise _Problem("no image was loaded for this specimen", file)
    if isinstance(image, str):
        raise _Problem(f"image: {image}", file)
    shape = np.shape(image)
    if len(shape) >= 2 and shape[0] * shape[1] > config.max_image_pixels:
        raise _Problem(
            f"image: too large: {shape[1]} x {shape[0]} = {shape[0] * shape[1]} pixels, above "
            f"max_image_pixels = {config.max_image_pixels} (parameter lattice_ingestion.max_image_pixels)",
            file,
        )
    try:
        return centre_crop_resize(image, config.image_size, config.channels)
    except ValueError as error:
        raise _Problem(f"bad image: {error}", file) from None


def _prepared_curve(
    curve: pd.DataFrame | str | None,
    record: pd.Series,
    grid: np.ndarray,
    config: IngestionConfig,
    file: str,
) -> np.ndarray:
    if curve is None:
        raise _Problem("no curve was loaded for this specimen", file)
    if isinstance(curve, str):
        raise _Problem(f"curve: {curve}", file)
    try:
        strain, stress, names = _strain_stress(curve.rename(columns=_stripped), record, config)
        strain = strain * config.strain_scale
        for values, name in zip((strain, stress), names, strict=True):
            _check_values(values, name)
        strain, stress = clean_curve(strain, stress, config)
        resampled = resample_curve(strain, stress, grid)
        if not np.isfinite(resampled.astype(np.float32)).all():
            raise ValueError(f"the resampled {names[1]} does not fit in float32 (largest {_FLOAT32_MAX:.3g})")
    except ValueError as error:
        raise _Problem(f"bad curve: {error}", file) from None
    return resampled


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_values(values: np.ndarray, name: str) -> None:
    """Non-finite values and values beyond float32 (the model input's type), naming the column."""
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"NaN or non-finite {name}: {int(bad.sum())} value(s), first at data row {row} "
            f"(column {name!r}, value {values[row]})"
        )
    huge = np.abs(values) > _FLOAT32_MAX
    if huge.any():
        row = int(np.flatnonzero(huge)[0])
        raise ValueError(
            f"{name} overflows float32: {int(huge.sum())} value(s) beyond {_FLOAT32_MAX:.3g}, first at "
            f"data row {row} (column {name!r}, value {values[row]:.6g})"
        )


def _strain_stress(
    curve: pd.DataFrame, record: pd.Series, config: IngestionConfig
) -> tuple[np.ndarray, np.ndarray, tuple[str, str]]:
    """Strain and stress of a curve table (converting force / displacement if needed) and the names
    of the columns they come from."""
    has_stress = {config.strain_column, config.stress_column} <= set(curve.columns)
    has_force = {config.force_column, config.displacement_column} <= set(curve.columns)
    kind = config.curve_type
    if kind == "auto":
        kind = "stress_strain" if has_stress else "force_displacement" if has_force else ""
    if kind == "stress_strain" and has_stress:
        return (
            _numeric(curve, config.strain_column),
            _numeric(curve, config.stress_column),
            (config.strain_column, config.stress_column),
        )
    if kind == "force_displacement" and has_force:
        gauge_length = _geometry(record, config.gauge_length_column, config.gauge_length)
        area = _geometry(record, config.cross_section_area_column, config.cross_section_area)
        if gauge_length is None or area is None:
            raise ValueError(
                "a force/displacement curve needs the gauge length and cross-section area (manifest "
                f"columns {config.gauge_length_column!r} / {config.cross_section_area_column!r} or "
                "parameters gauge_length / cross_section_area)"
            )
        with np.errstate(over="ignore"):
            strain, stress = force_displacement_to_stress_strain(
                _numeric(curve, config.force_column),
                _numeric(curve, config.displacement_column),
                gauge_length,
                area,
            )
        return strain, stress, (config.displacement_column, config.force_column)
    expected = {
        "stress_strain": f"{config.strain_column!r} and {config.stress_column!r}",
        "force_displacement": f"{config.force_column!r} and {config.displacement_column!r}",
        "": (
            f"{config.strain_column!r} and {config.stress_column!r}, or "
            f"{config.force_column!r} and {config.displacement_column!r}"
        ),
    }[kind]
    raise ValueError(f"missing columns: expected {expected}, found {list(curve.columns)}")


def _numeric(curve: pd.DataFrame, column: str) -> np.ndarray:
    """A curve column as float64; non-numeric entries become NaN (reported by ``clean_curve``)."""
    return pd.to_numeric(curve[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _geometry(record: pd.Series, column: str, default: float | None) -> float | None:
    """Per-specimen geometry from the manifest if present and numeric, else the parameter."""
    if column in record.index:
        value = pd.to_numeric(pd.Series([record[column]]), errors="coerce").iloc[0]
        if pd.notna(value):
            return float(value)
    return None if default is None else float(default)


def _sorted_unique(strain: np.ndarray, stress: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by strain (stable); points with equal strain are replaced by their mean stress."""
    order = np.argsort(strain, kind="stable")
    strain, stress = strain[order], stress[order]
    unique, first_index, counts = np.unique(strain, return_index=True, return_counts=True)
    sums = np.add.reduceat(stress, first_index)
    return unique, sums / counts


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(text: str) -> bool:
    """An id a spreadsheet would run as a formula: it starts with ``= + - @``, a tab or a carriage
    return, and is not a plain number (``-3`` is harmless)."""
    if not text or not text.startswith(FORMULA_STARTS):
        return False
    try:
        float(text)
    except ValueError:
        return True
    return False


def csv_safe(text: str) -> str:
    """``text`` for a CSV report: a formula-like id gets a leading apostrophe, which spreadsheets show
    as text (the OWASP CSV-injection advice); other text is unchanged."""
    return "'" + text if is_formula_like(text) else text


def _specimen_id(value: object) -> str:
    """Manifest id as a string; ``""`` for a missing one."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    return str(value).strip()


def _joined(folder: str | None, path: object) -> str:
    if path is None or (isinstance(path, float) and np.isnan(path)) or path is pd.NA:
        return ""
    path = str(path)
    return os.path.join(folder, path) if folder and not os.path.isabs(path) else path


def _column_groups(manifest: pd.DataFrame, config: IngestionConfig, manifest_name: str) -> dict[str, list[str]]:
    """``config.column_groups`` checked against the manifest's columns (a missing one names the group)."""
    groups = {m: list(columns) for m, columns in (config.column_groups or {}).items()}
    for modality, columns in groups.items():
        missing = [c for c in columns if c not in manifest.columns]
        if missing:
            raise SpecimenError(None, manifest_name, f"column_groups.{modality} names column(s) {missing} not in the "
                                f"manifest columns {list(manifest.columns)}")
    return groups


def _table_value(value: object, modality: str, column: str, file: str) -> float:
    """One cell of a column group as a float: NaN for an empty cell (the specimen misses ``modality``);
    anything that is not a finite number is this specimen's problem (in the manifest file)."""
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        return float("nan")
    if isinstance(value, str) and not value.strip():
        return float("nan")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool | np.bool_) or not np.isfinite(number):
        shown = value.item() if isinstance(value, np.generic) else value
        raise _Problem(f"column {column!r} ({modality} values) is {shown!r}, expected a number (empty: {modality} missing)", file)
    return number


def _label_columns(
    manifest: pd.DataFrame, config: IngestionConfig, manifest_name: str
) -> list[str]:
    if config.label_columns is not None:
        missing = [c for c in config.label_columns if c not in manifest.columns]
        if missing:
            raise SpecimenError(
                None,
                manifest_name,
                f"label column(s) {missing} not in the manifest columns {list(manifest.columns)}",
            )
        return list(config.label_columns)
    skip = set(STRUCTURE_COLUMNS) | {config.gauge_length_column, config.cross_section_area_column}
    skip |= {c for columns in (config.column_groups or {}).values() for c in columns}
    return [c for c in manifest.columns if c not in skip]


def raw_specimen_set(
    raw_manifest: Mapping[str, Any], params: Mapping[str, Any]
) -> tuple[dict[str, np.ndarray], pd.DataFrame, pd.DataFrame]:
    """Validate the manifest, crop/resize images and resample curves onto the common strain grid
    (the ``lattice`` ingestion node, ``ingestion.<dataset>.ingest``; also used in memory by the benchmark).

    Args:
        raw_manifest: ``SpecimenManifestDataset.load()`` output.
        params: ``IngestionConfig`` keyword arguments (``on_error``, ``max_strain``, ``image_size``...).

    Returns:
        ``(raw_specimens, features, rejected)``:

        * ``raw_specimens``: the raw specimen set of ``data_processing``: ``{"images": float32
          [N, C, S, S] in [0, 1], "curves": float32 [N, L] (stress), "grid": float32 [L] (strain),
          "specimen_id": str [N]}`` in manifest order;
        * ``features``: ``specimen_id`` plus the manifest's label columns, one row per kept specimen;
        * ``rejected``: ``specimen_id, file, reason`` of every skipped specimen (empty, with these
          columns, when none was skipped or ``on_error`` is ``raise``).

    Raises:
        causal_pima.data.specimens.SpecimenError: with ``on_error: raise``, at the first problem,
            naming the specimen, the file and the problem.
    """
    specimens, labels, rejected = ingest_specimens(raw_manifest, params)
    raw_specimens = {
        "images": specimens["images"],
        "curves": specimens["curves"],
        "grid": specimens["strain_grid"],
        "specimen_id": specimens["specimen_id"],
    }
    for spec in tabular_specs().values():  # the column groups' values (data_processing standardises them)
        if spec.array_key in specimens:
            raw_specimens[spec.array_key] = specimens[spec.array_key]
    logger.info(
        "ingested %d specimens (%d rejected): images %s, curves %s on strain %.3g..%.3g",
        len(labels),
        len(rejected),
        tuple(specimens["images"].shape),
        tuple(specimens["curves"].shape),
        float(specimens["strain_grid"][0]),
        float(specimens["strain_grid"][-1]),
    )
    return raw_specimens, labels, rejected

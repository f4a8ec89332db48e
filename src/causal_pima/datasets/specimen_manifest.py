"""Kedro dataset for a folder of specimens: a manifest CSV + one image file and one curve CSV each.

Raw format (DESIGN.md section 4, "Lattice")::

    <path>/specimens.csv        specimen_id, image, curve, [label and geometry columns...]
    <path>/images/<id>.png      (or .npy / .tif / .tiff; grayscale or RGB, any size)
    <path>/curves/<id>.csv      strain, stress (or force, displacement) columns

``image`` and ``curve`` are paths relative to the manifest's folder (absolute paths are accepted on
load). Loading never fails because of one specimen: a file that is missing or unreadable is returned
as a message string in place of its data, so the validation node (``causal_pima.data.specimens``) can
raise or skip per ``on_error``. Duplicate ids and other structure problems are also left to that node.
Saving writes every image and curve first and the manifest last (temporary file + ``os.replace``), so
an interrupted save never leaves a manifest pointing at files that do not exist. Local file system only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from PIL import Image

from causal_pima.datasets.atomic import atomic_write

_IMAGE_FORMATS = {"png": ".png", "npy": ".npy", "tiff": ".tif"}
_PIL_SUFFIXES = {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"}
_UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]")


class SpecimenManifestDataset(AbstractDataset[dict, dict]):
    """A specimen manifest with its image and curve files.

    Args:
        path: the folder holding the manifest.
        manifest: manifest file name inside ``path``.
        image_format: format used by ``save``: ``"png"`` (8-bit; float images are quantised to
            ``round(255 x)``), ``"npy"`` (exact) or ``"tiff"`` (exact for 2-D float32 and uint8 /
            uint16 images; float RGB is quantised to 8 bits). ``load`` reads all of them (and JPEG/BMP).
        metadata: free-form metadata (kedro-viz layer etc.), not used by the dataset.

    ``load()`` returns ``{"manifest": DataFrame, "images": {id: ndarray | message str},
    "curves": {id: DataFrame | message str}, "folder": str, "manifest_file": str}``; images are
    ``[H, W]`` or ``[H, W, C]`` as stored (uint8 / uint16 / float). ``save(data)`` takes
    ``{"manifest": DataFrame (specimen_id + label columns), "images": {id: [H, W] or [H, W, C]
    float in [0, 1] or uint8}, "curves": {id: DataFrame}}``.

    Example catalog entry::

        lattice.raw_specimens:
          type: causal_pima.datasets.specimen_manifest.SpecimenManifestDataset
          path: data/01_raw/lattice
          metadata:
            kedro-viz:
              layer: raw
    """

    def __init__(
        self,
        path: str,
        manifest: str = "specimens.csv",
        image_format: str = "png",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if image_format not in _IMAGE_FORMATS:
            raise DatasetError(
                f"image_format must be one of {sorted(_IMAGE_FORMATS)}, got {image_format!r}"
            )
        self._path = Path(path)
        self._manifest = manifest
        self._image_format = image_format
        self.metadata = metadata

    @property
    def manifest_path(self) -> Path:
        return self._path / self._manifest

    # ------------------------------------------------------------------ load

    def load(self) -> dict:
        manifest_path = self.manifest_path
        if not manifest_path.is_file():
            raise DatasetError(f"specimen manifest not found: {manifest_path}")
        try:
            manifest = pd.read_csv(
                manifest_path, dtype={"specimen_id": str, "image": str, "curve": str}
            )
        except Exception as exc:  # a manifest that cannot be parsed is a dataset-level failure
            raise DatasetError(f"cannot read specimen manifest {manifest_path}: {exc}") from exc

        images: dict[str, np.ndarray | str] = {}
        curves: dict[str, pd.DataFrame | str] = {}
        ids = manifest["specimen_id"] if "specimen_id" in manifest.columns else []
        for row, specimen_id in enumerate(ids):
            if pd.isna(specimen_id) or str(specimen_id).strip() in images:
                continue  # missing / duplicate ids are reported by the validation node
            specimen_id = str(specimen_id).strip()
            record = manifest.iloc[row]
            images[specimen_id] = _read_or_message(record.get("image"), self._path, _read_image)
            curves[specimen_id] = _read_or_message(record.get("curve"), self._path, _read_curve)
        return {
            "manifest": manifest,
            "images": images,
            "curves": curves,
            "folder": str(self._path),
            "manifest_file": str(manifest_path),
        }

    # ------------------------------------------------------------------ save

    def save(self, data: dict) -> None:
        manifest, images, curves = _validated_save_input(data)
        ids = manifest["specimen_id"].astype(str).tolist()
        names = [_UNSAFE_NAME_CHARACTERS.sub("_", specimen_id) for specimen_id in ids]
        if len(set(names)) != len(names):
            raise DatasetError(
                "specimen ids collide after replacing characters outside [A-Za-z0-9._-] by '_'"
            )
        suffix = _IMAGE_FORMATS[self._image_format]
        image_paths, curve_paths = [], []
        for specimen_id, name in zip(ids, names, strict=True):
            image_relative = f"images/{name}{suffix}"
            curve_relative = f"curves/{name}.csv"
            image = np.asarray(images[specimen_id])
            atomic_write(
                self._path / image_relative,
                lambda tmp, image=image: _write_image(tmp, image, self._image_format),
            )
            curve = curves[specimen_id]
            atomic_write(
                self._path / curve_relative, lambda tmp, curve=curve: curve.to_csv(tmp, index=False)
            )
            image_paths.append(image_relative)
            curve_paths.append(curve_relative)

        table = manifest.drop(columns=[c for c in ("image", "curve") if c in manifest.columns])
        table.insert(1, "image", image_paths)
        table.insert(2, "curve", curve_paths)
        # The manifest goes last and atomically: readers see the old one or the complete new one.
        atomic_write(self.manifest_path, lambda tmp: table.to_csv(tmp, index=False))

    # ------------------------------------------------------------------ kedro plumbing

    def _exists(self) -> bool:
        return self.manifest_path.is_file()

    def _describe(self) -> dict[str, Any]:
        return {
            "path": str(self._path),
            "manifest": self._manifest,
            "image_format": self._image_format,
        }


# ------------------------------------------------------------------------------------ helpers


def _read_or_message(relative: object, folder: Path, reader) -> Any:
    """``reader(path)``, or a message string naming the problem instead of raising."""
    if relative is None or pd.isna(relative) or not str(relative).strip():
        return "no file path in the manifest"
    path = Path(str(relative).strip())
    path = path if path.is_absolute() else folder / path
    if not path.is_file():
        return f"missing file (no such file: {path})"
    try:
        return reader(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a per-specimen problem
        return f"unreadable file ({type(exc).__name__}: {exc})"


def _read_image(path: Path) -> np.ndarray:
    """``[H, W]`` or ``[H, W, C]`` array: NPY via numpy, other formats via PIL (first frame)."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if suffix not in _PIL_SUFFIXES:
        raise ValueError(f"unsupported image format {suffix!r}")
    with Image.open(path) as image:
        if image.mode == "1":
            image = image.convert("L")
        elif image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        elif image.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
            image = image.convert("RGB")
        return np.array(image)


def _read_curve(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def _write_image(path: Path, image: np.ndarray, image_format: str) -> None:
    """Write one ``[H, W]`` / ``[H, W, C]`` image (float in [0, 1], uint8, uint16 or bool)."""
    if image_format == "npy":
        with path.open("wb") as handle:
            np.save(handle, image, allow_pickle=False)
        return
    if image_format == "tiff" and image.ndim == 2 and np.issubdtype(image.dtype, np.floating):
        Image.fromarray(image.astype(np.float32)).save(path, format="TIFF")
        return
    if image.dtype == np.uint16 and image.ndim == 2:
        Image.fromarray(image).save(path, format="PNG" if image_format == "png" else "TIFF")
        return
    Image.fromarray(_to_uint8(image)).save(path, format="PNG" if image_format == "png" else "TIFF")


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise DatasetError(f"image must be [H, W], [H, W, 3] or [H, W, 4], got shape {image.shape}")
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    if np.issubdtype(image.dtype, np.floating):
        if np.isnan(image).any() or image.min() < 0.0 or image.max() > 1.0:
            raise DatasetError("float images must hold values in [0, 1] without NaN")
        return np.round(image * 255.0).astype(np.uint8)
    raise DatasetError(f"cannot store an image of dtype {image.dtype} as 8-bit")


def _validated_save_input(data: dict) -> tuple[pd.DataFrame, dict, dict]:
    if not isinstance(data, dict) or not {"manifest", "images", "curves"} <= set(data):
        raise DatasetError("save() needs a dict with keys 'manifest', 'images' and 'curves'")
    manifest = data["manifest"]
    if not isinstance(manifest, pd.DataFrame) or "specimen_id" not in manifest.columns:
        raise DatasetError("data['manifest'] must be a DataFrame with a 'specimen_id' column")
    ids = manifest["specimen_id"].astype(str)
    if ids.duplicated().any():
        raise DatasetError(f"duplicate specimen ids: {sorted(set(ids[ids.duplicated()]))[:5]}")
    images, curves = data["images"], data["curves"]
    missing_images = [i for i in ids if i not in images]
    missing_curves = [i for i in ids if i not in curves]
    if missing_images or missing_curves:
        raise DatasetError(
            f"every manifest id needs an image and a curve; missing images for {missing_images[:5]}, "
            f"curves for {missing_curves[:5]}"
        )
    for specimen_id in ids:
        if not isinstance(curves[specimen_id], pd.DataFrame):
            raise DatasetError(f"curve of {specimen_id!r} must be a DataFrame")
    return manifest.reset_index(drop=True), images, curves

"""Kedro dataset for a folder of specimens: a manifest CSV + one image file and one curve CSV each.

Raw format (README "Lattice specimens and your own data")::

    <path>/specimens.csv        specimen_id, image, curve, [label and geometry columns...]
    <path>/images/<id>.png      (or .npy / .tif / .tiff; grayscale or RGB, any size)
    <path>/curves/<id>.csv      strain, stress (or force, displacement) columns
    <path>/checksums.json       written by ``save`` with ``checksums: true`` (see ``raw_set``)

The file columns and folders come from the modality specs (``core.modality_spec.file_specs``: a spec's
``manifest_column``, its ``file_format`` and its ``array_key`` as folder and as key of ``load()``), so a
new file-backed modality needs no change here. ``image`` and ``curve`` are paths relative to the
manifest's folder; an empty cell means the specimen was not measured that way (nothing is read;
ingestion keeps it with a NaN row). They must resolve inside that folder, or inside ``data_root`` when
one is configured: a ``..`` that leaves it, an absolute path elsewhere, or a symbolic link whose target
lies outside it is refused for that specimen (symbolic links are followed only when their target is
inside the root). Header names and values are stripped of
surrounding spaces (``specimen_id, image, curve`` works).

Loading never fails because of one specimen: a file that is missing, unreadable or outside the root is
returned as a message string in place of its data, so the validation node
(``causal_pima.data.specimens``) can raise or skip per ``on_error``. Images are read lazily, one at a
time, when the mapping is indexed (``SpecimenImages``), and ``SpecimenImages.read`` reduces a large
image to about the model size while decoding it and refuses one above a pixel limit, so memory does
not grow with the number or the resolution of the images. Duplicate ids and other structure problems
are also left to the validation node.

Saving writes every image and curve first and the manifest last, each atomically. With
``checksums: true`` the folder is a raw set (``causal_pima.datasets.raw_set``): ``checksums.json``
records every file's sha256 and is completed only when every member of the set (``set_members``, e.g.
the manifest and ``true_dag.json``) has been written by the same run; a load refuses a folder left
half-written by an interrupted save, or with files changed since, naming the folder and the files. A
folder without ``checksums.json`` (your own data) is read unverified. Local file system only.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from PIL import Image

from causal_pima.core.modality_spec import file_specs
from causal_pima.data.specimens import image_to_unit_float, not_measured
from causal_pima.datasets.atomic import atomic_write
from causal_pima.datasets.raw_set import (
    RawSet,
    remember_written,
    remove_orphan_temp_files,
    sha256_file,
)

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
        checksums: ``save`` records every file's sha256 in ``<path>/checksums.json`` (a raw set);
            ``load`` verifies them whenever that file exists, whatever this flag.
        set_members: every member of the raw set in this folder (the manifest and, e.g.,
            ``true_dag.json`` written by its own dataset); default: the manifest alone.
        data_root: the folder image and curve paths must resolve inside (default: ``path``).
        rewrite_with: the command that writes the set again, quoted in error messages.
        metadata: free-form metadata (kedro-viz layer etc.), not used by the dataset.

    ``load()`` returns ``{"manifest": DataFrame, "images": SpecimenImages (a read-only mapping
    {id: ndarray | message str}, read on access), "curves": {id: DataFrame | message str},
    "folder": str, "manifest_file": str}`` (an id whose path cell is empty is not in that mapping);
    images are ``[H, W]`` or ``[H, W, C]`` as stored (uint8 / uint16 / float). ``save(data)`` takes ``{"manifest": DataFrame (specimen_id + label columns),
    "images": {id: [H, W] or [H, W, C] float in [0, 1] or uint8}, "curves": {id: DataFrame}}``.

    Example catalog entry::

        lattice.raw_manifest:
          type: causal_pima.datasets.specimen_manifest.SpecimenManifestDataset
          path: data/01_raw/lattice
          checksums: true
          set_members: [specimens.csv, true_dag.json]
          metadata:
            kedro-viz:
              layer: raw
    """

    def __init__(
        self,
        path: str,
        manifest: str = "specimens.csv",
        image_format: str = "png",
        checksums: bool = False,
        set_members: list[str] | None = None,
        data_root: str | None = None,
        rewrite_with: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if image_format not in _IMAGE_FORMATS:
            raise DatasetError(
                f"image_format must be one of {sorted(_IMAGE_FORMATS)}, got {image_format!r}"
            )
        self._path = Path(path)
        self._manifest = manifest
        self._image_format = image_format
        self._checksums = bool(checksums)
        self._data_root = Path(data_root) if data_root else None
        members = list(set_members or [manifest])
        if manifest not in members:
            members.insert(0, manifest)
        self._raw_set = RawSet(self._path, members, require_checksums=False, rewrite_with=rewrite_with)
        self.metadata = metadata

    @property
    def manifest_path(self) -> Path:
        return self._path / self._manifest

    @property
    def raw_set(self) -> RawSet:
        return self._raw_set

    # ------------------------------------------------------------------ load

    def load(self) -> dict:
        manifest_path = self.manifest_path
        if not manifest_path.is_file():
            raise DatasetError(f"specimen manifest not found: {manifest_path}")
        self._raw_set.verify(self._manifest)  # an incomplete or changed set is refused here
        specs = file_specs()
        try:
            columns = ("specimen_id", *(spec.manifest_column for spec in specs.values()))
            manifest = read_table(manifest_path, text_columns=columns)
        except Exception as exc:  # a manifest that cannot be parsed is a dataset-level failure
            raise DatasetError(f"cannot read specimen manifest {manifest_path}: {exc}") from exc

        root = self._data_root if self._data_root is not None else self._path
        sources: dict[str, dict[str, Path | str]] = {m: {} for m in specs}
        ids = manifest["specimen_id"] if "specimen_id" in manifest.columns else []
        seen: set[str] = set()
        for row, specimen_id in enumerate(ids):
            if pd.isna(specimen_id) or str(specimen_id).strip() in seen:
                continue  # missing / duplicate ids are reported by the validation node
            specimen_id = str(specimen_id).strip()
            seen.add(specimen_id)
            record = manifest.iloc[row]
            for m, spec in specs.items():  # an empty path cell: not measured that way, nothing to read
                if not not_measured(record, spec.manifest_column):
                    sources[m][specimen_id] = resolve_inside(record.get(spec.manifest_column), self._path, root)
        files = {spec.array_key: _FORMATS[spec.file_format].reader(sources[m]) for m, spec in specs.items()}
        return {"manifest": manifest, **files, "folder": str(self._path), "manifest_file": str(manifest_path)}

    # ------------------------------------------------------------------ save

    def save(self, data: dict) -> None:
        manifest, values = _validated_save_input(data)
        ids = manifest["specimen_id"].astype(str).tolist()
        names = [_UNSAFE_NAME_CHARACTERS.sub("_", specimen_id) for specimen_id in ids]
        if len(set(names)) != len(names):
            raise DatasetError(
                "specimen ids collide after replacing characters outside [A-Za-z0-9._-] by '_'"
            )
        specs = file_specs()
        if self._checksums:
            self._raw_set.begin_write(self._manifest)
        else:
            self._raw_set.forget()  # checksums of an earlier write would no longer hold
        for folder in (self._path, *(self._path / spec.array_key for spec in specs.values())):
            remove_orphan_temp_files(folder)
        files: dict[str, str] = {}

        def write_file(relative: str, writer) -> None:
            digest = {}

            def write(tmp: Path) -> None:
                writer(tmp)
                if self._checksums:
                    digest["sha256"] = sha256_file(tmp)

            atomic_write(self._path / relative, write)
            if self._checksums:
                remember_written(self._path / relative, digest["sha256"])
                files[relative] = digest["sha256"]

        paths: dict[str, list[str]] = {m: [] for m in specs}
        for m, spec in specs.items():
            file_format = _FORMATS[spec.file_format]
            suffix = _IMAGE_FORMATS[self._image_format] if spec.file_format == "image" else file_format.suffix
            for specimen_id, name in zip(ids, names, strict=True):
                relative = f"{spec.array_key}/{name}{suffix}"
                value = values[spec.array_key][specimen_id]
                write_file(relative, lambda tmp, value=value, write=file_format.writer: write(tmp, value, self._image_format))
                paths[m].append(relative)

        table = manifest.drop(columns=[spec.manifest_column for spec in specs.values() if spec.manifest_column in manifest.columns])
        for position, (m, spec) in enumerate(specs.items(), start=1):
            table.insert(position, spec.manifest_column, paths[m])
        # The manifest goes last and atomically: readers see the old one or the complete new one.
        write_file(self._manifest, lambda tmp: table.to_csv(tmp, index=False))
        if self._checksums:
            self._raw_set.finish_write(self._manifest, files)

    # ------------------------------------------------------------------ kedro plumbing

    def _exists(self) -> bool:
        return self.manifest_path.is_file()

    def _describe(self) -> dict[str, Any]:
        return {
            "path": str(self._path),
            "manifest": self._manifest,
            "image_format": self._image_format,
            "checksums": self._checksums,
        }


class ImageTooLarge(ValueError):
    """An image has more pixels than the configured limit."""


class SpecimenImages(Mapping):
    """Specimen images read lazily: ``images[id]`` decodes one file (or returns its problem message).

    Nothing is cached, so iterating over thousands of images holds one at a time. ``read(id,
    min_side, max_pixels)`` is the bounded reader used by ingestion (see :func:`read_image`).
    """

    def __init__(self, sources: Mapping[str, Path | str]) -> None:
        self._sources = dict(sources)

    def __getitem__(self, specimen_id: str) -> np.ndarray | str:
        return self.read(specimen_id)

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def __contains__(self, specimen_id: object) -> bool:  # without reading the image
        return specimen_id in self._sources

    def path(self, specimen_id: str) -> Path | None:
        source = self._sources[specimen_id]
        return None if isinstance(source, str) else source

    def read(
        self, specimen_id: str, min_side: int | None = None, max_pixels: int | None = None
    ) -> np.ndarray | str:
        """The image (reduced as :func:`read_image` does), or a message naming its problem."""
        source = self._sources[specimen_id]
        if isinstance(source, str):
            return source
        try:
            return read_image(source, min_side=min_side, max_pixels=max_pixels)
        except ImageTooLarge as exc:
            return f"too large: {exc}"
        except Exception as exc:  # noqa: BLE001 - any reader failure is a per-specimen problem
            return f"unreadable file ({type(exc).__name__}: {exc})"


# ------------------------------------------------------------------------------------ helpers


def read_table(path: Path, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """A CSV table with header names and values stripped of surrounding spaces.

    ``text_columns`` (matched after stripping) are read as strings, so ids such as ``007`` survive.
    """
    header = pd.read_csv(path, nrows=0, skipinitialspace=True).columns
    dtype = {raw: str for raw in header if str(raw).strip() in text_columns}
    table = pd.read_csv(path, dtype=dtype or None, skipinitialspace=True)
    table.columns = [str(c).strip() for c in table.columns]
    return table


def resolve_inside(relative: object, folder: Path, root: Path) -> Path | str:
    """The file a manifest path names, or a message when it is empty, missing or outside ``root``.

    ``relative`` is taken relative to ``folder``. It is refused when the path as written leaves
    ``root`` (``..``, or an absolute path elsewhere) or when it resolves, through symbolic links, to a
    file outside ``root``: links are followed only to targets inside the root. Returns the resolved
    path, so the file read is the one checked.
    """
    if relative is None or pd.isna(relative) or not str(relative).strip():
        return "no file path in the manifest"
    text = str(relative).strip()
    written = Path(text)
    joined = written if written.is_absolute() else folder / written
    root_absolute = Path(os.path.abspath(root))
    root_real = root_absolute.resolve()
    lexical = Path(os.path.normpath(os.path.abspath(joined)))
    if not (lexical.is_relative_to(root_absolute) or lexical.is_relative_to(root_real)):
        kind = "absolute path" if written.is_absolute() else "path"
        return (
            f"outside the data folder: {kind} {text!r} resolves to {lexical}, outside {root_absolute} "
            "(paths must stay inside the manifest's folder or the configured data_root)"
        )
    if not joined.exists():
        if joined.is_symlink():
            return f"missing file (broken symbolic link: {joined})"
        return f"missing file (no such file: {joined})"
    real = joined.resolve()
    if not real.is_relative_to(root_real):
        return (
            f"outside the data folder: {text!r} is a symbolic link to {real}, outside {root_real} "
            "(links are followed only to files inside the manifest's folder or the configured data_root)"
        )
    if not real.is_file():
        return f"missing file (not a regular file: {joined})"
    return real


def _read_or_message(path: Path, reader) -> Any:
    """``reader(path)``, or a message string naming the problem instead of raising."""
    try:
        return reader(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a per-specimen problem
        return f"unreadable file ({type(exc).__name__}: {exc})"


def reduction_factor(side: int, min_side: int | None) -> int:
    """Integer block-reduction factor for a square of ``side`` read for a model of ``min_side``.

    1 (no reduction: the image is read exactly as stored) up to eight times the model size; above,
    the factor that keeps at least ``4 * min_side`` pixels across.
    """
    if not min_side or min_side < 1 or side <= 8 * int(min_side):
        return 1
    return max(1, side // (4 * int(min_side)))


def read_image(path: Path, min_side: int | None = None, max_pixels: int | None = None) -> np.ndarray:
    """``[H, W]`` or ``[H, W, C]`` array: NPY via numpy (memory-mapped), other formats via PIL.

    With ``max_pixels``, an image with more pixels (width x height as stored) raises
    :class:`ImageTooLarge` before it is decoded. With ``min_side``, an image more than eight times
    larger is centre-cropped and reduced while it is read, so no full-resolution float copy is made
    (ingestion would otherwise convert the whole image to float32 before resizing it):

    * PIL formats: JPEG is scaled in the decoder (``Image.draft``); the image is then area-resized
      (BOX) in its stored 8/16-bit mode straight from the centre square to ``min_side x min_side``
      (``Image.resize(box=...)``), the same filter ingestion applies, to within one grey level;
    * NPY: block means over a memory map, one row band at a time, to between ``4 * min_side`` and
      ``8 * min_side`` pixels across, returned as float32 in [0, 1].

    Peak memory is one decoded image at its stored bit depth (bounded by ``max_pixels``) plus the
    small result. Without ``min_side`` the image is returned as stored.
    """
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _read_npy(path, min_side, max_pixels)
    if suffix not in _PIL_SUFFIXES:
        raise ValueError(f"unsupported image format {suffix!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge(f"{exc} (limit max_image_pixels = {max_pixels})") from None
    with image:
        _check_pixels(image.size[0], image.size[1], max_pixels)
        if reduction_factor(min(image.size), min_side) > 1 and image.format == "JPEG":
            image.draft(image.mode, (4 * int(min_side), 4 * int(min_side)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = _normalised_mode(image)
            width, height = image.size
            side = min(width, height)
            if reduction_factor(side, min_side) == 1:
                return np.array(image)
            if image.mode in ("LA", "RGBA"):  # alpha is dropped by ingestion, before averaging
                image = image.convert(image.mode[:-1])
            left, top = (width - side) // 2, (height - side) // 2
            size = int(min_side)
            reduced = image.resize(
                (size, size), Image.Resampling.BOX, box=(left, top, left + side, top + side)
            )
            return np.array(reduced)


def _normalised_mode(image: Image.Image) -> Image.Image:
    if image.mode == "1":
        return image.convert("L")
    if image.mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return image.convert("RGB")
    return image


def _check_pixels(width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLarge(
            f"{width} x {height} = {width * height} pixels, above max_image_pixels = {max_pixels} "
            "(parameter lattice_ingestion.max_image_pixels)"
        )


def _read_npy(path: Path, min_side: int | None, max_pixels: int | None) -> np.ndarray:
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] > 4):
        if max_pixels is not None and array.size > 4 * max_pixels:
            raise ImageTooLarge(f"array of shape {array.shape}, above 4 x max_image_pixels = {max_pixels}")
        return np.array(array)  # an unexpected shape: ingestion names it
    height, width = array.shape[:2]
    _check_pixels(width, height, max_pixels)
    side = min(height, width)
    factor = reduction_factor(side, min_side)
    if factor == 1:
        return np.array(array)
    kept = (side // factor) * factor
    top, left = (height - kept) // 2, (width - kept) // 2
    crop = array[top : top + kept, left : left + kept]
    bands = []
    for row in range(0, kept, factor):
        band = image_to_unit_float(np.asarray(crop[row : row + factor]))
        shape = (factor, kept // factor, factor, *band.shape[2:])
        bands.append(band.reshape(shape).mean(axis=(0, 2), dtype=np.float64)[None])
    return np.concatenate(bands).astype(np.float32)


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
    Image.fromarray(png_pixels(image)).save(path, format="PNG" if image_format == "png" else "TIFF")


def png_pixels(image: np.ndarray) -> np.ndarray:
    """The 8-bit pixels ``[H, W]`` or ``[H, W, 3|4]`` this dataset writes for ``image`` (floats in
    [0, 1] become ``round(255 x)``; the benchmark uses it to take generated images as stored)."""
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


def _validated_save_input(data: dict) -> tuple[pd.DataFrame, dict[str, Mapping]]:
    """``(manifest, {array_key: {id: value}})`` for every file-backed modality (``file_specs``)."""
    keys = [spec.array_key for spec in file_specs().values()]
    if not isinstance(data, dict) or not {"manifest", *keys} <= set(data):
        raise DatasetError(f"save() needs a dict with keys {['manifest', *keys]}")
    manifest = data["manifest"]
    if not isinstance(manifest, pd.DataFrame) or "specimen_id" not in manifest.columns:
        raise DatasetError("data['manifest'] must be a DataFrame with a 'specimen_id' column")
    ids = manifest["specimen_id"].astype(str)
    if ids.duplicated().any():
        raise DatasetError(f"duplicate specimen ids: {sorted(set(ids[ids.duplicated()]))[:5]}")
    absent = {key: [i for i in ids if i not in data[key]] for key in keys}
    if any(absent.values()):
        raise DatasetError(
            f"every manifest id needs a value in each of {keys}; missing: "
            + ", ".join(f"{key} for {ids_of[:5]}" for key, ids_of in absent.items() if ids_of)
        )
    for spec in file_specs().values():
        if spec.file_format == "table":
            wrong = [i for i in ids if not isinstance(data[spec.array_key][i], pd.DataFrame)]
            if wrong:
                raise DatasetError(f"{spec.name} of {wrong[0]!r} must be a DataFrame")
    return manifest.reset_index(drop=True), {key: data[key] for key in keys}


@dataclass(frozen=True)
class _FileFormat:
    """How the dataset reads (``reader``: ``{id: path | message}`` -> ``{id: value | message}``) and writes
    (``writer(tmp, value, image_format)``) one kind of specimen file (``ModalitySpec.file_format``)."""

    reader: Callable[[dict[str, Path | str]], Mapping]
    writer: Callable[[Path, Any, str], None]
    suffix: str = ""


def _read_tables(sources: dict[str, Path | str]) -> dict[str, pd.DataFrame | str]:
    return {i: source if isinstance(source, str) else _read_or_message(source, read_table) for i, source in sources.items()}


def _write_table(path: Path, table: pd.DataFrame, image_format: str) -> None:
    table.to_csv(path, index=False)


def _write_array_image(path: Path, image: Any, image_format: str) -> None:
    _write_image(path, np.asarray(image), image_format)


# the file formats by ModalitySpec.file_format; images are read lazily, one at a time (SpecimenImages)
_FORMATS = {
    "image": _FileFormat(reader=SpecimenImages, writer=_write_array_image),
    "table": _FileFormat(reader=_read_tables, writer=_write_table, suffix=".csv"),
}

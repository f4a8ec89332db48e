"""Kedro dataset for one file of a raw set (see :mod:`causal_pima.datasets.raw_set`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import parse_dataset_definition

from causal_pima.datasets.atomic import atomic_write
from causal_pima.datasets.raw_set import RawSet, remember_written, sha256_file


class RawSetMemberDataset(AbstractDataset[Any, Any]):
    """One file of a raw set, read and written by any Kedro dataset, checked against the set's checksums.

    Every file of a raw set has its own catalog entry (so each shows in kedro-viz and keeps its name
    for the pipelines that use it); they share the folder's ``checksums.json``. A save writes the file
    atomically and records its sha256; the set is complete when every member has been written by the
    same run. A load refuses an incomplete set, a member written by another run than its siblings, and
    a file whose sha256 differs from the recorded one, with a message naming the folder and the file.

    Args:
        filepath: the file (its folder is the set's folder).
        dataset: the Kedro dataset that reads and writes the file (``type`` and its arguments, no
            ``filepath``), e.g. ``{type: pandas.CSVDataset, save_args: {index: false}}``.
        members: file names of every member of the set, this one included (default: this file alone).
        require_checksums: refuse a folder without ``checksums.json`` (default); ``false`` accepts one
            unverified (data placed there by hand).
        rewrite_with: the command that writes the set again, quoted in error messages.
        metadata: free-form metadata (kedro-viz layer), not used by the dataset.

    Example catalog entry::

        circles.features:
          type: causal_pima.datasets.RawSetMemberDataset
          filepath: data/01_raw/circles/features.csv
          members: [features.csv, specimens.npz, true_dag.json]
          dataset: {type: pandas.CSVDataset, save_args: {index: false}}
          rewrite_with: kedro run --pipelines circles
    """

    def __init__(
        self,
        filepath: str,
        dataset: str | dict[str, Any],
        members: list[str] | None = None,
        require_checksums: bool = True,
        rewrite_with: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._filepath = Path(filepath)
        config = {"type": dataset} if isinstance(dataset, str) else dict(dataset)
        if "filepath" in config:
            raise DatasetError(
                "RawSetMemberDataset: give 'filepath' on the entry, not inside 'dataset'"
            )
        self._dataset_class, self._dataset_args = parse_dataset_definition(
            {**config, "filepath": str(filepath)}
        )
        self._dataset_args.pop("filepath", None)
        self._dataset_config = config
        self._member = self._filepath.name
        members = list(members or [self._member])
        if self._member not in members:
            members.append(self._member)
        self._raw_set = RawSet(self._filepath.parent, members, require_checksums, rewrite_with)
        self.metadata = metadata

    @property
    def raw_set(self) -> RawSet:
        return self._raw_set

    def _inner(self, path: Path) -> AbstractDataset:
        return self._dataset_class(filepath=str(path), **self._dataset_args)

    def load(self) -> Any:
        if not self._filepath.is_file():
            raise DatasetError(f"raw data file not found: {self._filepath}")
        self._raw_set.verify(self._member)
        return self._inner(self._filepath).load()

    def save(self, data: Any) -> None:
        self._raw_set.begin_write(self._member)
        digest: dict[str, str] = {}

        def write(tmp: Path) -> None:
            self._inner(tmp).save(data)
            digest["sha256"] = sha256_file(tmp)

        atomic_write(self._filepath, write)
        remember_written(self._filepath, digest["sha256"])
        self._raw_set.finish_write(self._member, {self._member: digest["sha256"]})

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": str(self._filepath),
            "dataset": self._dataset_config,
            "members": self._raw_set.members,
            "require_checksums": self._raw_set.require_checksums,
        }

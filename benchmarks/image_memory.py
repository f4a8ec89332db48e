"""Peak memory of lattice ingestion on large images (issue 9, item 6).

Writes a specimen folder with ``--n`` PNG images of ``--side`` x ``--side`` pixels (and valid curves),
then, in a fresh subprocess, loads it with ``SpecimenManifestDataset`` and runs ``ingest_specimens``
with ``image_size`` 32, and prints the peak resident memory (``VmHWM``, reset after the imports
through ``/proc/self/clear_refs``; Linux only) above the resident memory before ingestion. ``--src`` picks the source tree to measure (e.g. an export of an older commit)::

    python benchmarks/image_memory.py --n 10 --side 4000
    git archive 1d8ad07 src | tar -x -C /tmp/old && python benchmarks/image_memory.py --src /tmp/old/src
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys
from causal_pima.data.specimens import ingest_specimens
from causal_pima.datasets.specimen_manifest import SpecimenManifestDataset

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024

with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")  # Linux: reset the peak resident size (VmHWM) to the current one
base = status("VmRSS")
params = json.loads(sys.argv[2])
try:
    specimens, _, rejected = ingest_specimens(SpecimenManifestDataset(sys.argv[1]).load(), params)
    result = f"images {specimens['images'].shape}, {len(rejected)} rejected"
    if len(rejected):
        result += f": {rejected['reason'].iloc[0]}"
except Exception as exc:
    result = f"{type(exc).__name__}: {exc}"
peak = status("VmHWM")
print(json.dumps({"rss_before_mb": round(base, 1), "peak_rss_mb": round(peak, 1), "added_mb": round(peak - base, 1), "result": result}))
"""


def write_folder(folder: Path, n: int, side: int, mode: str) -> None:
    from PIL import Image

    (folder / "images").mkdir(parents=True)
    (folder / "curves").mkdir()
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    gray = (200 * np.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2) / 0.05) + 40 * x).astype(np.uint8)
    del x, y
    image = Image.fromarray(gray if mode == "L" else np.dstack([gray, 255 - gray, gray // 2]))
    del gray
    rows = ["specimen_id,image,curve"]
    strain = np.linspace(0.0, 0.75, 50)
    for i in range(n):
        image.save(folder / "images" / f"s{i}.png", compress_level=1)
        np.savetxt(
            folder / "curves" / f"s{i}.csv",
            np.c_[strain, 10 * strain],
            delimiter=",",
            header="strain,stress",
            comments="",
        )
        rows.append(f"s{i},images/s{i}.png,curves/s{i}.csv")
    (folder / "specimens.csv").write_text("\n".join(rows) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--side", type=int, default=4000)
    parser.add_argument("--mode", choices=["L", "RGB"], default="RGB")
    parser.add_argument("--src", default=str(ROOT / "src"))
    parser.add_argument("--max-image-pixels", type=int, default=None)
    args = parser.parse_args()
    params = {"image_size": 32, "max_strain": 0.7}
    if args.max_image_pixels is not None:
        params["max_image_pixels"] = args.max_image_pixels
    with tempfile.TemporaryDirectory() as tmp:
        write_folder(Path(tmp), args.n, args.side, args.mode)
        out = subprocess.run(
            [sys.executable, "-c", CHILD, tmp, json.dumps(params)],
            env={"PYTHONPATH": args.src, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        json.dumps(
            {"n": args.n, "side": args.side, "mode": args.mode, "src": args.src, **report}, indent=1
        )
    )


if __name__ == "__main__":
    main()

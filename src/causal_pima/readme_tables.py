"""The README's benchmark tables, rewritten from the benchmark pipeline's Markdown outputs (``make readme-tables``).

A generated section of the README sits between two marker comments naming the file it comes from::

    <!-- benchmark-table: data/08_reporting/benchmark/results.md -->

    ...the file's content (results.md: header line with date, commit, machine, torch and threads; the table)...

    <!-- /benchmark-table -->

    python -m causal_pima.readme_tables README.md     # every section from its file; exit 1 naming missing files

The text outside the markers is never touched. A section whose file does not exist (no benchmark run
of that environment on this machine) is left as it is and named.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

SECTION = re.compile(r"(<!-- benchmark-table: (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- /benchmark-table -->)", re.DOTALL)


def rewrite_sections(text: str, read: Callable[[str], str | None]) -> tuple[str, list[str], list[str]]:
    """``text`` with every marked section's body replaced by ``read(path)`` (``None``: left as it is).

    Returns the new text, the paths rewritten and the paths ``read`` did not find, in the order of the
    sections. Raises ``ValueError`` when an opening marker has no closing one."""
    opened = text.count("<!-- benchmark-table: ")
    if opened != text.count("<!-- /benchmark-table -->") or opened != len(SECTION.findall(text)):
        raise ValueError("unbalanced <!-- benchmark-table: PATH --> / <!-- /benchmark-table --> markers")
    rewritten: list[str] = []
    missing: list[str] = []

    def replace(match: re.Match) -> str:
        content = read(match["path"])
        if content is None:
            missing.append(match["path"])
            return match[0]
        rewritten.append(match["path"])
        return match[1] + "\n" + content.strip("\n") + "\n\n" + match[4]  # blank lines: Markdown blocks of their own

    return SECTION.sub(replace, text), rewritten, missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m causal_pima.readme_tables", description=__doc__.split("\n\n")[0])
    parser.add_argument("readme", type=Path, nargs="?", default=Path("README.md"), help="the file to rewrite (paths in it are relative to its folder)")
    args = parser.parse_args(argv)
    root = args.readme.parent

    def read(path: str) -> str | None:
        file = root / path
        return file.read_text() if file.is_file() else None

    text, rewritten, missing = rewrite_sections(args.readme.read_text(), read)
    args.readme.write_text(text)
    for path in rewritten:
        print(f"rewritten from {path}")
    for path in missing:
        print(f"left as it was: {path} does not exist (run that benchmark environment first)", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

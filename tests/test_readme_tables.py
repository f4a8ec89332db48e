"""``make readme-tables``: the README's marked sections rewritten from the benchmark's Markdown outputs."""

from __future__ import annotations

import pytest

from causal_pima.readme_tables import main, rewrite_sections

README = """# title
text before
<!-- benchmark-table: data/a.md -->
old table a
<!-- /benchmark-table -->
middle
<!-- benchmark-table: data/b.md -->
old table b
<!-- /benchmark-table -->
after
"""


def test_each_section_is_replaced_by_its_file_and_nothing_else_changes():
    text, rewritten, missing = rewrite_sections(README, {"data/a.md": "Run: x\n\n| t |\n"}.get)
    assert rewritten == ["data/a.md"] and missing == ["data/b.md"]
    assert text == README.replace("old table a\n", "\nRun: x\n\n| t |\n\n")
    # idempotent
    assert rewrite_sections(text, {"data/a.md": "Run: x\n\n| t |\n"}.get)[0] == text


def test_unbalanced_markers_are_refused():
    with pytest.raises(ValueError, match="unbalanced"):
        rewrite_sections(README.replace("<!-- /benchmark-table -->\nafter", "after"), lambda path: "x")


def test_the_command_rewrites_the_file_and_names_the_missing_ones(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(README)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "b.md").write_text("new b\n")
    assert main([str(readme)]) == 1
    assert "old table a" in readme.read_text() and "-->\n\nnew b\n\n<!-- /benchmark-table -->" in readme.read_text()
    assert "data/a.md does not exist" in capsys.readouterr().err
    (tmp_path / "data" / "a.md").write_text("new a\n")
    assert main([str(readme)]) == 0 and "old table" not in readme.read_text()

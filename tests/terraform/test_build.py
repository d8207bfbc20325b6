"""util/build.py: the zip Terraform deploys is the same bytes for the same code."""

from __future__ import annotations

import zipfile
from pathlib import Path

from util import build


def _build(tmp_path: Path, name: str) -> Path:
    package = build.build(tmp_path / name / "package", with_dependencies=False)
    return build.write_zip(package, tmp_path / name / "lambda.zip")


def test_two_builds_of_the_same_code_are_the_same_bytes(tmp_path):
    first = _build(tmp_path, "one")
    # A later build: new copies with new modification times, created in another order.
    second = _build(tmp_path, "two")
    assert first.read_bytes() == second.read_bytes()


def test_entries_are_sorted_with_fixed_timestamps_and_modes(tmp_path):
    with zipfile.ZipFile(_build(tmp_path, "one")) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert {i.date_time for i in infos} == {build.ZIP_TIMESTAMP}
    assert {(i.external_attr >> 16) & 0o777 for i in infos} <= {0o644, 0o755}
    assert "post_message/handler.py" in names and "gateway/settings.py" in names
    assert not any(n.startswith("examples/") for n in names)  # the example bot does not ship


def test_the_zip_changes_when_the_code_does(tmp_path):
    package = build.build(tmp_path / "package", with_dependencies=False)
    before = build.write_zip(package, tmp_path / "a.zip").read_bytes()
    (package / "gateway" / "settings.py").write_text("# changed\n", encoding="utf-8")
    assert build.write_zip(package, tmp_path / "b.zip").read_bytes() != before

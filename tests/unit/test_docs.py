"""The documentation stays true to the code: the generated Terraform tables are current, the README
stays short with a working table of contents, every relative link resolves, and no page reads as a
changelog."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from util import tfdocs

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference.md"
README_MAX_LINES = 320

# Wording that tells the product's history instead of what it does (case-insensitive, outside code).
HISTORY = re.compile("|".join([
    r"\bit was\s+[~$\d]", r"\(it was\b", r"\bthey were\s+[~$\d]", r"\bbefore this release\b",
    r"\bthis release\b", r"\bno longer\b", r"\bnot met\b", r"\bpreviously\b", r"\bformerly\b",
    r"\banymore\b", r"\bas the package was before\b", r"\btargets? set\b", r"\bchangelog\b",
    r"\buntil now\b", r"\bused to be\b", r"\b(?:is|are) now\b", r"\bnow (?:uses|ships|reads|writes)\b",
    r"\bissues?\s+#?\d+", r"\bPR\s*#?\d+", r"(?<!UAX )(?<![\w/&])#\d+\b",
]), re.IGNORECASE)

LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, ...


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def prose_lines(path: Path, *, keep_code: bool = False) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks; inline code spans emptied unless keep_code."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if re.match(r"^\s*(```|~~~)", line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line if keep_code else re.sub(r"`[^`]*`", "``", line)))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to dashes."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # a link keeps its text
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: dict[str, int] = {}
    result = set()
    for _, line in prose_lines(path, keep_code=True):
        match = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(2))
            n = found.get(base, 0)
            result.add(base if n == 0 else f"{base}-{n}")
            found[base] = n + 1
    return result


def links(path: Path) -> list[tuple[int, str]]:
    return [(number, match.group(1)) for number, line in prose_lines(path) for match in LINK.finditer(line)]


# --- the generated Terraform tables ----------------------------------------------------------

def test_reference_tables_match_the_terraform():
    current = REFERENCE.read_text()
    assert tfdocs.render(current) == current, (
        "docs/reference.md's variables/outputs tables differ from variables.tf/outputs.tf: "
        "run `python util/tfdocs.py` and commit the result")


def test_reference_lists_every_variable_and_output():
    text = REFERENCE.read_text()
    for name in tfdocs._blocks(ROOT / "variables.tf", "variable"):
        assert f"| `{name}` |" in text, f"variable {name} missing from docs/reference.md"
    for name in tfdocs._blocks(ROOT / "outputs.tf", "output"):
        assert f"| `{name}` |" in text, f"output {name} missing from docs/reference.md"


def test_check_mode_fails_on_a_stale_document_and_rewrite_fixes_it(tmp_path):
    stale = tmp_path / "reference.md"
    stale.write_text(REFERENCE.read_text().replace("| `region` |", "| `regoin` |"))
    check = [sys.executable, str(ROOT / "util" / "tfdocs.py"), "--check", "--doc", str(stale)]
    result = subprocess.run(check, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1
    assert "stale" in result.stderr and "util/tfdocs.py" in result.stderr
    assert stale.read_text() != REFERENCE.read_text()  # --check writes nothing

    subprocess.run([sys.executable, str(ROOT / "util" / "tfdocs.py"), "--doc", str(stale)], check=True,
                   capture_output=True, cwd=ROOT)
    assert stale.read_text() == REFERENCE.read_text()
    assert subprocess.run(check, capture_output=True, cwd=ROOT).returncode == 0


def test_missing_markers_are_an_error(tmp_path):
    doc = tmp_path / "reference.md"
    doc.write_text("# nothing to fill in\n")
    result = subprocess.run([sys.executable, str(ROOT / "util" / "tfdocs.py"), "--check", "--doc", str(doc)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "markers not found" in result.stderr


def test_types_are_printed_as_written_on_one_line(tmp_path):
    (tmp_path / "variables.tf").write_text('''
variable "policies" {
  description = "x"
  type = map(object({
    mode    = optional(string, "fixed") # a comment, with "quotes"
    size    = optional(number)
    nested  = optional(object({ a = string }))
  }))
  default = {}
}

variable "names" {
  type        = list(string)
  description = <<-EOT
    A heredoc that mentions type = string
      and wraps.
  EOT
}
''')
    (tmp_path / "outputs.tf").write_text('output "o" {\n  description = "An | output."\n  value = 1\n}\n')
    types = tfdocs.variable_types(tmp_path / "variables.tf")
    assert types == {
        "policies": 'map(object({ mode = optional(string, "fixed"), size = optional(number), '
                    'nested = optional(object({ a = string })) }))',
        "names": "list(string)",
    }
    table = tfdocs.variables_table(tmp_path)
    assert "| `names` | `list(string)` | required | A heredoc that mentions type = string and wraps. |" in table
    assert "| `policies` |" in table and "| `{}` |" in table
    assert r"An \| output." in tfdocs.outputs_table(tmp_path)


@pytest.mark.parametrize("value, hcl", [
    (None, "null"), (True, "true"), (10, "10"), (2.5, "2.5"), ("INFO", '"INFO"'), ({}, "{}"),
    ({"project": "x"}, '{ project = "x" }'), (["a", 1], '["a", 1]'),
])
def test_defaults_are_printed_as_hcl(value, hcl):
    assert tfdocs._hcl_value(value) == hcl


def test_environment_names_in_the_reference_exist_in_main_tf():
    text = REFERENCE.read_text()
    section = text[text.index("## Lambda environment"):]
    main_tf = (ROOT / "main.tf").read_text()
    names = set(re.findall(r"`([A-Z][A-Z0-9_]{3,})`", section))
    assert names, "the Lambda environment table names no variable"
    missing = sorted(name for name in names if not re.search(rf"\b{name}\s*=", main_tf))
    assert not missing, f"docs/reference.md names environment variables main.tf does not set: {missing}"


# --- the README -------------------------------------------------------------------------------

def test_readme_is_short():
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; keep it under {README_MAX_LINES} (move detail to docs/)"


def test_readme_table_of_contents_resolves_and_is_complete():
    text = README.read_text()
    toc = re.search(r"^## Contents\n(.*?)(?=^## )", text, re.MULTILINE | re.DOTALL)
    assert toc, "README.md needs a '## Contents' section before the first other '## ' heading after it"
    targets = re.findall(r"\]\(#([^)]+)\)", toc.group(1))
    assert targets, "the table of contents links to nothing"
    headings = anchors(README)
    assert not [t for t in targets if t not in headings], (
        f"table of contents links without a heading: {[t for t in targets if t not in headings]}")
    sections = [slug(h) for h in re.findall(r"^## (.+)$", text, re.MULTILINE) if h.strip() != "Contents"]
    assert not [s for s in sections if s not in targets], (
        f"sections missing from the table of contents: {[s for s in sections if s not in targets]}")


# --- every page -------------------------------------------------------------------------------

def broken_links(page: Path) -> list[str]:
    broken = []
    for number, target in links(page):
        if EXTERNAL.match(target):
            continue
        path_part, _, fragment = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"line {number}: {target} (no such file)")
        elif fragment and destination.suffix == ".md" and fragment not in anchors(destination):
            broken.append(f"line {number}: {target} (no heading #{fragment} in {destination.name})")
    return broken


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = broken_links(page)
    assert not broken, f"{page.relative_to(ROOT)}: broken links:\n  " + "\n  ".join(broken)


def test_the_link_check_finds_missing_files_and_headings(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## The `apps` variable, in short\n")
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n## Local heading\n\n"
                    "[ok](other.md#the-apps-variable-in-short) [ok](#local-heading) [ok](https://example.com/x)\n"
                    "[gone](missing.md) [bad anchor](other.md#nowhere) [bad local](#elsewhere)\n"
                    "```\n[in code](ignored.md)\n```\n`[inline](ignored.md)`\n")
    assert broken_links(page) == [
        "line 6: missing.md (no such file)",
        "line 6: other.md#nowhere (no heading #nowhere in other.md)",
        "line 6: #elsewhere (no heading #elsewhere in page.md)",
    ]


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_history_wording(page):
    found = [f"line {number}: {match.group(0)!r}" for number, line in prose_lines(page)
             for match in HISTORY.finditer(line)]
    assert not found, (f"{page.relative_to(ROOT)} tells history; state current behaviour instead:\n  "
                       + "\n  ".join(found))

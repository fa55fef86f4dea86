"""Generated files are current, and every "§N" in the code names a section of docs/protocol.md.

`python -m support.generate` writes every generated part: legacy.asyncapi.json, the tables of
docs/protocol.md, and README's fault table and count. A change to v2.asyncapi.json, a profile, a
rule, a fault or a row of the fault matrix without rerunning it fails here, naming the command.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from support import generate
from support.generate import COMMAND, ROOT
from support.vocabulary import Dialect
from support.reference_backend.faults import descriptions
from support.vocabulary import generate as vocabulary_generate
from tests import fault_matrix

PROTOCOL_MD = ROOT / "docs" / "protocol.md"
README = ROOT / "README.md"

SECTIONS = {1: "Connecting", 2: "Authentication failures", 3: "Client frames", 4: "A text reply",
            5: "Text-to-speech", 6: "Tools", 7: "Chat history", 8: "Cancellation", 9: "Errors and closing",
            10: "The older (camelCase) dialect", 11: "Required and informational"}
CITING = ["support/**/*.py", "support/**/*.json", "steps/**/*.py", "features/**/*.feature", "environment.py",
          "README.md"]


def headings() -> dict[int, str]:
    return {int(n): title for n, title in re.findall(r"^## (\d+)\. (.+)$", PROTOCOL_MD.read_text(), re.M)}


def test_every_generated_file_is_what_the_generator_writes():
    stale = [str(path.relative_to(ROOT)) for path, content in generate.outputs().items() if path.read_text() != content]
    assert not stale, f"stale: {stale}; run `{COMMAND}`"


def test_check_mode_agrees(capsys):
    assert generate.main(["--check"]) == 0, f"run `{COMMAND}`"
    assert capsys.readouterr().out == "up to date\n"


def test_check_mode_finds_a_stale_part_and_writes_nothing(tmp_path, monkeypatch, capsys):
    copy = tmp_path / "README.md"
    copy.write_text(README.read_text().replace(f"| `{fault_matrix.ROWS[0].fault}` |", "| `renamed` |", 1))
    monkeypatch.setattr(generate, "ROOT", tmp_path)
    monkeypatch.setattr(generate, "DOCUMENTS", [copy])
    before = copy.read_text()
    assert generate.main(["--check"]) == 1
    assert capsys.readouterr().out == "stale: README.md\n" and copy.read_text() == before
    assert generate.main([]) == 0 and copy.read_text() == README.read_text()


def test_each_document_has_the_parts_it_is_known_for():
    expected = {PROTOCOL_MD: {"dialects", "required", "rules"}, README: {"faults", "fault-modes"}}
    found = {path: set(generate.generated_parts(path.read_text())) for path in generate.DOCUMENTS}
    assert found == expected
    assert set(generate.PARTS) == set().union(*expected.values())   # no part written nowhere


def test_readme_states_the_count_of_fault_modes_and_lists_every_row():
    parts = generate.generated_parts(README.read_text())
    assert parts["fault-modes"] == f"{len(descriptions())} fault modes"
    assert parts["faults"] == "\n" + fault_matrix.markdown() + "\n"
    assert len(parts["faults"].strip().splitlines()) == len(fault_matrix.ROWS) + 2


def test_protocol_keeps_the_section_numbers_the_code_cites():
    found = headings()
    wrong = {n: found.get(n) for n, title in SECTIONS.items() if not found.get(n, "").startswith(title)}
    assert not wrong, f"docs/protocol.md: section numbers must keep their meaning; expected {SECTIONS}, got {found}"


def test_every_cited_section_exists():
    sections = headings()
    missing = []
    for pattern in CITING:
        for path in sorted(ROOT.glob(pattern)):
            for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                missing += [f"{path.relative_to(ROOT)}:{lineno}: §{n}" for n in re.findall(r"§\s?(\d+)", line)
                            if int(n) not in sections]
    assert not missing, "cited sections docs/protocol.md does not have:\n" + "\n".join(missing)


def test_citations_are_found_at_all():
    # Guards the test above against a glob or pattern that silently matches nothing.
    rules = (ROOT / "support" / "rules.py").read_text()
    assert len(re.findall(r"§\s?(\d+)", rules)) > 20


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_nothing_points_outside_the_repository():
    outside = ".." + "/shared"          # spelled in two pieces so this file does not match itself
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    found = [name.decode() for name in files if name and (ROOT / name.decode()).is_file()
             and outside.encode() in (ROOT / name.decode()).read_bytes()]
    assert not found, f"files that reference {outside} (use docs/protocol.md): {found}"


def test_unbalanced_markers_are_refused():
    # A lost end marker must not let one part swallow the prose up to the next part's end.
    text = "<!-- generated: rules -->\nold\n\n## 11. Prose\n<!-- generated: required -->\n<!-- end generated -->\n"
    with pytest.raises(ValueError, match="unbalanced"):
        generate.fill(text)
    with pytest.raises(ValueError, match="unknown"):
        generate.fill("<!-- generated: nope -->\n<!-- end generated -->\n")
    filled = generate.fill("intro\n<!-- generated: rules -->\n<!-- end generated -->\nafter\n")
    assert filled.startswith("intro\n<!-- generated: rules -->\n| rule |") and filled.endswith("\nafter\n")


def test_a_part_on_one_line_is_a_phrase_in_the_prose():
    filled = generate.fill("It has <!-- generated: fault-modes -->many<!-- end generated -->, each")
    assert filled == f"It has <!-- generated: fault-modes -->{len(descriptions())} fault modes<!-- end generated -->, each"
    with pytest.raises(ValueError, match="lines of their own"):
        generate.fill("| <!-- generated: rules --><!-- end generated --> |")


def test_a_marker_shown_as_code_is_prose():
    text = "Tables between `<!-- generated: NAME -->` and `<!-- end generated -->` are written.\n"
    assert generate.fill(text) == text


def test_the_vocabulary_generator_needs_only_the_vocabulary():
    code = ("import sys, support.vocabulary.generate; "
            "print(sorted(m for m in sys.modules if m.startswith(('support', 'jwt', 'tests'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['support', 'support.vocabulary', 'support.vocabulary.generate']"


def test_derived_document_keeps_every_kind_and_the_legacy_wire_form():
    doc = vocabulary_generate.derived_asyncapi("legacy")
    legacy = Dialect.load("legacy")
    messages = {m["x-kind"]: m for m in doc["components"]["messages"].values()}
    assert {k for k, m in messages.items() if m["x-direction"] == "server"} == set(legacy.events)
    start = messages["tool_start"]["payload"]
    assert start["properties"]["type"] == {"const": "customEvent"}
    assert start["properties"]["eventType"] == {"const": "toolUse"}
    assert "data" not in start["properties"] and start["properties"]["content"]["required"] == ["name"]
    assert messages["tool_result"]["payload"]["properties"]["content"]["properties"]["status"]["enum"] == \
        ["success", "error"]

"""Generated files are current, and every "§N" in the code names a section of docs/protocol.md.

legacy.asyncapi.json and the generated tables of docs/protocol.md are written by
`python -m support.vocabulary.generate`; a change to v2.asyncapi.json, a profile or a rule
without rerunning it fails here, naming the command.
"""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from support.vocabulary import Dialect
from support.vocabulary import generate
from support.vocabulary.generate import COMMAND, PROTOCOL_MD, ROOT

SECTIONS = {1: "Connecting", 2: "Authentication failures", 3: "Client frames", 4: "A text reply",
            5: "Text-to-speech", 6: "Tools", 7: "Chat history", 8: "Cancellation", 9: "Errors and closing",
            10: "The older (camelCase) dialect", 11: "Required and informational"}
CITING = ["support/**/*.py", "support/**/*.json", "steps/**/*.py", "features/**/*.feature", "environment.py",
          "README.md"]


def headings() -> dict[int, str]:
    return {int(n): title for n, title in re.findall(r"^## (\d+)\. (.+)$", PROTOCOL_MD.read_text(), re.M)}


def test_legacy_asyncapi_is_what_the_generator_writes():
    for path, content in generate.asyncapi_outputs().items():
        assert path.read_text() == content, f"{path.relative_to(ROOT)} is stale: run `{COMMAND}`"


def test_protocol_generated_parts_are_current():
    text = PROTOCOL_MD.read_text()
    now, expected = generate.generated_parts(text), generate.generated_parts(generate.fill(text))
    assert set(now) == set(generate.SECTIONS), f"docs/protocol.md lacks generated parts {set(generate.SECTIONS) - set(now)}"
    for name in now:
        assert now[name] == expected[name], f"docs/protocol.md's generated part {name!r} is stale: run `{COMMAND}`"


def test_check_mode_agrees():
    assert generate.main(["--check"]) == 0, f"run `{COMMAND}`"


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


def test_derived_document_keeps_every_kind_and_the_legacy_wire_form():
    doc = generate.derived_asyncapi("legacy")
    legacy = Dialect.load("legacy")
    messages = {m["x-kind"]: m for m in doc["components"]["messages"].values()}
    assert {k for k, m in messages.items() if m["x-direction"] == "server"} == set(legacy.events)
    start = messages["tool_start"]["payload"]
    assert start["properties"]["type"] == {"const": "customEvent"}
    assert start["properties"]["eventType"] == {"const": "toolUse"}
    assert "data" not in start["properties"] and start["properties"]["content"]["required"] == ["name"]
    assert messages["tool_result"]["payload"]["properties"]["content"]["properties"]["status"]["enum"] == \
        ["success", "error"]

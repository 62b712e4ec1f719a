"""The project owns its design: the domain rules live in docs/design.md, and nothing in the
repository points outside it (a clone has no ../shared)."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "docs" / "design.md"


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    files = []
    for name in listed:
        path = ROOT / name
        if path.is_file() and path.suffix not in (".png", ".gz", ".ico"):
            try:
                path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            files.append(path)
    return files


def test_no_file_refers_to_a_design_outside_the_repository():
    offenders = []
    needles = ("../shared", "shared/DESIGN", "DESIGN section", "DESIGN.md", 'DESIGN "')
    for path in tracked_text_files():
        if path == Path(__file__):
            continue
        text = path.read_text(encoding="utf-8")
        offenders += [f"{path.relative_to(ROOT)}: {n}" for n in needles if n in text]
    assert offenders == []


def test_the_design_covers_what_the_code_cites():
    text = DESIGN.read_text()
    sections = dict(re.findall(r"^## (\d+)\. (.+)$", text, re.M))
    for topic in ("Glossary", "Who owns what", "Money", "Enrollment", "Messaging"):
        assert any(topic in title for title in sections.values()), topic
    cited = set()
    for path in tracked_text_files():
        for number in re.findall(r"design\.md,? sections? (\d+)", path.read_text()):
            cited.add(number)
    assert cited and cited <= set(sections), cited - set(sections)


def test_the_design_names_every_running_process_and_every_registry():
    from contracts import catalog
    from servicekit import config

    text = DESIGN.read_text()
    owners = text.split("## 2.")[1].split("## 3.")[0]
    for process in (*config.RUNNING_SERVICES, "gateway"):
        assert f"| {process} |" in owners, process
    for registry in getattr(catalog, "REGISTRIES", ()):
        assert f"`{registry}`" in text, registry
    assert "[`docs/design.md`](docs/design.md)" in (ROOT / "README.md").read_text()

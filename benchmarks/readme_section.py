"""Replace a generated section of README.md: the text between <!-- NAME:start --> and
<!-- NAME:end -->. Benchmarks write their figures this way, so none is typed by hand."""
from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def write_section(name: str, text: str, readme: Path = README) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    content = readme.read_text()
    if start not in content or end not in content:
        raise SystemExit(f"{readme.name} has no {start} ... {end} section")
    before, rest = content.split(start, 1)
    _, after = rest.split(end, 1)
    readme.write_text(before + start + "\n" + text.strip() + "\n" + end + after)
    print(f"wrote the {name} figures into {readme}")

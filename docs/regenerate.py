"""Rewrite the generated tables of docs/scenarios.md from the declarations in the code.

Run: .venv/bin/python docs/regenerate.py   (tests/community/test_scenario.py fails while they differ)
"""

from pathlib import Path

from wattmesh.community.model import ASSETS, EV_SESSIONS, MEMBERS
from wattmesh.community.scenario import fields_markdown

DOC = Path(__file__).with_name("scenarios.md")
END = "<!-- end generated -->"


def replace_block(text: str, marker: str, body: str) -> str:
    start = text.index(marker) + len(marker)
    end = text.index(END, start)
    return text[:start] + "\n" + body + "\n" + text[end:]


text = DOC.read_text()
text = replace_block(
    text, "<!-- generated from wattmesh.community.scenario.FIELDS: do not edit by hand -->", fields_markdown()
)
tables = "\n".join(f"\n### {s.name}\n\n{s.markdown()}" for s in (MEMBERS, ASSETS, EV_SESSIONS))
text = replace_block(text, "<!-- generated from wattmesh.community.model: do not edit by hand -->", tables)
DOC.write_text(text)
print(f"rewrote {DOC}")

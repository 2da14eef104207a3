"""docs/rules-fields.md, generated from the field table (a test keeps the file up to date)."""

from __future__ import annotations

from mamori.rules.fields import ALL_FIELDS, SOURCES
from mamori.rules.fields.base import ArgMode

HEADER = """# Rules fields

Generated from `mamori.rules.fields` by `python -m mamori.rules.fields.docs > docs/rules-fields.md`;
`tests/rules/test_rules_fields_doc.py` fails when this file is out of date.

**Sensor** says which mamori events fill the field today: `exec` (exec decision events),
`open` / `connect` (file-open and connect events), `audit` (Kubernetes audit events), `drift`
(the drift detector's extension fields), or `-` when no mamori source fills it yet (the field
compiles, and reads as `<NA>`: every comparison on it is false).
Arguments: `[arg]` optional, `[ARG]` required.
"""


def render() -> str:
    lines = [HEADER]
    for source in SOURCES:
        fields = [f for f in ALL_FIELDS if f.source == source]
        filled = sum(1 for f in fields if f.sensor)
        lines.append(f"\n## Source `{source}` ({len(fields)} fields, {filled} filled today)\n")
        lines.append("| field | type | sensor | description |")
        lines.append("|---|---|---|---|")
        for f in fields:
            arg = {ArgMode.NONE: "", ArgMode.OPTIONAL: "[arg]", ArgMode.REQUIRED: "[ARG]"}[f.arg]
            desc = f.desc.replace("|", "\\|")
            lines.append(f"| `{f.name}{arg}` | {f.type.value} | {f.sensor or '-'} | {desc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")

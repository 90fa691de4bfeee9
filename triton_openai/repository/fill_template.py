"""Fill `${name}` placeholders, strictly: unknown or leftover names are errors."""

from __future__ import annotations

import re
from collections.abc import Mapping

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class TemplateError(ValueError):
    """A template and its values do not fit (a typo on either side)."""


def placeholders(template: str) -> set[str]:
    return set(_PLACEHOLDER.findall(template))


def fill_template(template: str, values: Mapping[str, object], *, allow_unused: bool = False) -> str:
    """Substitute every `${name}`; raise TemplateError on missing or (unless allowed) unused values."""
    wanted = placeholders(template)
    missing = wanted - values.keys()
    if missing:
        raise TemplateError(f"no value for {', '.join(sorted(missing))}")
    unused = values.keys() - wanted
    if unused and not allow_unused:
        raise TemplateError(f"values not used by the template: {', '.join(sorted(unused))}")
    return _PLACEHOLDER.sub(lambda m: _pbtxt_string(values[m.group(1)]), template)


def _pbtxt_string(value: object) -> str:
    # Values land inside pbtxt string literals: escape what would end or break them.
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

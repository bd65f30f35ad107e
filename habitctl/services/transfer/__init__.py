"""A user's data in and out (SPEC §9a).

* `backup` / `restore`: the JSON backup, a complete restore that can run twice;
* `loop_read`, `loop_import`, `loop_write`, `loop_entries`: Loop Habit Tracker both ways;
* `ics`: the useful habits as a calendar that reminds;
* `importer`: what `habitctl import` runs, one all-or-nothing write (`apply`) with a
  `report` of what changed, was filled in or refused.
"""

from habitctl.services.transfer.backup import export_document, export_json
from habitctl.services.transfer.ics import export_ics
from habitctl.services.transfer.importer import (
    MAX_IMPORT_BYTES,
    import_bytes,
    import_document,
    too_large,
)
from habitctl.services.transfer.loop_write import export_loop
from habitctl.services.transfer.report import ImportReport

__all__ = [
    "MAX_IMPORT_BYTES",
    "ImportReport",
    "export_document",
    "export_ics",
    "export_json",
    "export_loop",
    "import_bytes",
    "import_document",
    "too_large",
]

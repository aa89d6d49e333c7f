"""CSV import of leads: upload, column mapping, preview, an all-or-nothing run, undo.

- `reading`: encoding, delimiter and records of an uploaded file, streamed.
- `mapping`: targets (lead fields, custom fields) and suggestions from headers.
- `rows`: one row → typed, normalised values or row-level errors.
- `merge`: the set-based import (COPY into staging, INSERT/UPDATE … SELECT): the
  capture spec (`leads.services.identity`) applied to a whole file, with the outcome
  of capturing its rows one by one.
- `jobs`: the service functions every entry point calls (upload, mapping, start,
  cancel, delete, the run); `undo`: undoing an import.
"""

from leads.services.imports.jobs import (
    ImportFailed,
    Preview,
    cancel_import,
    column_samples,
    create_import_job,
    delete_import,
    file_columns,
    imports_visible_to,
    is_queued,
    preview_import,
    run_import,
    set_mapping,
    start_import,
)
from leads.services.imports.mapping import FIELD_LABELS, check_mapping, suggest_mapping, targets
from leads.services.imports.reading import ImportFileError
from leads.services.imports.undo import undo_import

__all__ = [
    "FIELD_LABELS",
    "ImportFailed",
    "ImportFileError",
    "Preview",
    "cancel_import",
    "check_mapping",
    "column_samples",
    "create_import_job",
    "delete_import",
    "file_columns",
    "imports_visible_to",
    "is_queued",
    "preview_import",
    "run_import",
    "set_mapping",
    "start_import",
    "suggest_mapping",
    "targets",
    "undo_import",
]

"""Rewriting a kept upload: rows blanked in place, for what must not stay in it (a person
erased at their request, rows an import skipped for that reason)."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable

from leads.models import ImportJob
from leads.services.imports import reading


def blank_rows(job: ImportJob, blank: Callable[[int, list[str]], bool]) -> bool:
    """Rewrite the job's file with every data row `blank(number, cells)` picks blanked
    (blank rows are skipped by every reader; the other rows keep their numbers, which
    the job's errors cite); whether any was. A file gone or not readable as CSV (never
    imported either) is left alone."""
    try:
        path = job.file.path
    except (NotImplementedError, ValueError):
        return False
    if not os.path.exists(path):
        return False
    fmt = reading.CsvFormat(encoding=job.encoding or "utf-8", delimiter=job.delimiter or ",")
    partial, found = f"{path}.blanking", False
    with open(path, "rb") as binary, open(partial, "w", encoding=fmt.encoding, newline="") as out:
        writer = csv.writer(out, delimiter=fmt.delimiter, lineterminator="\r\n")
        text = reading.open_text(binary, fmt)
        try:
            for number, cells in reading.records(text, fmt):
                if number > 1 and blank(number, cells):
                    cells, found = [""] * len(cells), True
                writer.writerow(cells)
        except reading.ImportFileError:
            found = False
        finally:
            text.detach()
    if not found:
        os.remove(partial)
        return False
    os.replace(partial, path)
    ImportJob.objects.filter(pk=job.pk).update(size=os.path.getsize(path))
    return True

"""Reading an uploaded CSV file: encoding, delimiter, header and records, streamed.

Exports from spreadsheets and other CRMs come as UTF-8 (with or without a byte
order mark) or, from older Windows tools, as a single-byte code page; the
delimiter is `,` or `;` (`;` where the decimal separator is a comma), sometimes a
tab. Nothing here holds more than one record in memory.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from leads.exceptions import LeadFlowError

SNIFF_BYTES = 64 * 1024
CHUNK_BYTES = 1024 * 1024
DELIMITERS = (",", ";", "\t", "|")
# One cell may hold a long note, not a whole swallowed file (an unbalanced quote).
MAX_CELL_CHARS = 128 * 1024
csv.field_size_limit(MAX_CELL_CHARS)


class ImportFileError(LeadFlowError):
    """The file cannot be read as CSV (or has nothing to import); nothing was written."""

    def __init__(self, message: str, *, row: int | None = None):
        super().__init__(message, field="file")
        self.row = row


@dataclass(frozen=True)
class CsvFormat:
    encoding: str  # a Python codec name: utf-8-sig, utf-8, cp1252 or latin-1
    delimiter: str


def detect_encoding(binary: BinaryIO) -> str:
    """UTF-8 (`utf-8-sig` with a byte order mark) when the whole file is valid UTF-8,
    else Windows-1252 when it decodes as that, else Latin-1 (which decodes anything).

    Reads the whole file once, in chunks: a single non-UTF-8 byte near the end
    must not turn into a decoding error half-way through an import.
    """
    binary.seek(0)
    head = binary.read(SNIFF_BYTES)
    if not head:
        raise ImportFileError("The file is empty.")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError("The file is UTF-16; save it as CSV UTF-8 and upload it again.")
    if b"\x00" in head:
        raise ImportFileError("This is not a CSV file (it contains binary data).")
    candidates = {
        "utf-8": codecs.getincrementaldecoder("utf-8")(),
        "cp1252": codecs.getincrementaldecoder("cp1252")(),
    }
    chunk = head
    while chunk and candidates:
        for name, decoder in list(candidates.items()):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                del candidates[name]
        chunk = binary.read(CHUNK_BYTES)
    for name, decoder in list(candidates.items()):
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            del candidates[name]
    binary.seek(0)
    if "utf-8" in candidates:
        return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    return "cp1252" if "cp1252" in candidates else "latin-1"


def sniff_delimiter(text: str) -> str:
    """The delimiter used most often in the header line, outside quotes (`,` by default)."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "\r\n":
            break
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def detect_format(binary: BinaryIO) -> CsvFormat:
    encoding = detect_encoding(binary)
    head = binary.read(SNIFF_BYTES).decode(encoding, errors="replace")
    binary.seek(0)
    return CsvFormat(encoding=encoding, delimiter=sniff_delimiter(head))


def raw_file(fileobj):
    """The plain binary file under Django's File / UploadedFile / temp-file wrappers."""
    while hasattr(fileobj, "file"):
        fileobj = fileobj.file
    return fileobj


def open_text(binary: BinaryIO, fmt: CsvFormat) -> io.TextIOWrapper:
    """A text view of `binary` (detach it when done: closing it would close the file)."""
    binary = raw_file(binary)
    binary.seek(0)
    return io.TextIOWrapper(binary, encoding=fmt.encoding, newline="")


def records(text: io.TextIOBase, fmt: CsvFormat) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) for every record; row 1 is the header, as in a spreadsheet.

    Quoted cells may hold delimiters and newlines. A quote that is never closed,
    or text after a closing quote, is a malformed file (ImportFileError with the
    row), never silently merged rows.
    """
    reader = csv.reader(text, delimiter=fmt.delimiter, strict=True)
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFileError(_csv_error_message(exc, number + 1), row=number + 1) from None
        number += 1
        yield number, cells


def _csv_error_message(exc: csv.Error, row: int) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return (
            f"Row {row}: a cell is longer than {MAX_CELL_CHARS:,} characters; the file "
            "probably has a quote that is never closed."
        )
    if "unexpected end of data" in text:
        return f"Row {row}: a quoted cell is never closed (unbalanced quotes)."
    return f"Row {row}: this is not valid CSV ({text})."


def is_blank(cells: list[str]) -> bool:
    return not any(cell.strip() for cell in cells)


# More columns than any lead has fields: a header this wide is a mistake (or an attack on
# the mapping page), refused before anything reads the rows.
MAX_COLUMNS = 500


def column_names(header: list[str]) -> list[str]:
    """Column names as the mapping uses them: trimmed, `Column N` for an empty header
    cell, ` (2)` after a repeated one, so every column can be mapped on its own. Linear
    in the header's length; ImportFileError past MAX_COLUMNS columns."""
    if len(header) > MAX_COLUMNS:
        raise ImportFileError(
            f"The file has {len(header):,} columns; at most {MAX_COLUMNS} can be imported. "
            "Remove the columns you do not need."
        )
    names: list[str] = []
    seen: set[str] = set()
    last_number: dict[str, int] = {}  # base name → the last " (n)" given to it
    for index, raw in enumerate(header, start=1):
        name = raw.strip().lstrip("\ufeff").strip() or f"Column {index}"
        base, n = name, last_number.get(name.lower(), 1)
        while name.lower() in seen:
            n += 1
            name = f"{base} ({n})"
        last_number[base.lower()] = n
        seen.add(name.lower())
        names.append(name)
    return names


@dataclass(frozen=True)
class FileSummary:
    format: CsvFormat
    columns: list[str]
    has_rows: bool


def inspect(binary: BinaryIO) -> FileSummary:
    """Encoding, delimiter and columns of an upload; ImportFileError if it cannot be
    imported at all (empty, binary, no header, no data row)."""
    binary = raw_file(binary)
    fmt = detect_format(binary)
    text = open_text(binary, fmt)
    try:
        rows = records(text, fmt)
        header = next((cells for _, cells in rows if not is_blank(cells)), None)
        if header is None:
            raise ImportFileError("The file is empty.")
        has_rows = any(not is_blank(cells) for _, cells in rows)
    finally:
        text.detach()
    if not has_rows:
        raise ImportFileError("The file has a header but no data rows: there is nothing to import.")
    return FileSummary(format=fmt, columns=column_names(header), has_rows=has_rows)

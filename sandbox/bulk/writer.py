"""
NDJSON part files of one export job, with a checkpoint that makes a killed job resumable.

Lines are appended to `<Type>.<n>.ndjson` (`.deleted.`, `.error.` for the other manifest
sections) in the job's working directory, and a part is closed when it reaches
EXPORT_FILE_MAX_LINES lines or EXPORT_FILE_MAX_BYTES bytes. `checkpoint()` flushes every
file and returns the length and line count of each, which the job stores together with its
position in the rows. A worker that resumes the job truncates every file back to that
checkpoint and deletes files opened after it, so the rows after the checkpoint are written
exactly once whatever happened to the previous worker.

Lines are buffered in a bytearray per file rather than in Python's buffered file objects: a
writer that is dropped without `close()` (an abandoned or crashed run) must never flush its
buffer into a file that another worker has since truncated and continued.
"""

import os
from pathlib import Path

FLUSH_BYTES = 1 << 20


def _write_all(fh, data):
    view = memoryview(data)
    while view:
        view = view[fh.write(view) :]


class PartWriter:
    def __init__(self, directory, parts, *, max_lines, max_bytes):
        """`parts` is the checkpoint's list of part dicts (restored from the job's state)."""
        self.directory = Path(directory)
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.parts = [dict(p) for p in parts]
        # key (kind, type) -> [unbuffered file, lines, bytes, part dict, pending bytes]
        self.current = {}
        self.counters = {}
        self._restore()

    def _restore(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        known = {p["name"]: p for p in self.parts}
        for path in self.directory.iterdir():
            part = known.get(path.name)
            if part is None:
                path.unlink()  # opened after the last checkpoint
            elif path.stat().st_size != part["bytes"]:
                os.truncate(path, part["bytes"])
        for part in self.parts:
            key = (part["kind"], part["type"])
            self.counters[key] = max(self.counters.get(key, 0), part["number"])
            path = self.directory / part["name"]
            if not path.exists():
                path.touch()
            if not part["closed"]:
                self.current[key] = [path.open("ab", buffering=0), part["lines"], part["bytes"], part, bytearray()]

    def _name(self, kind, resource_type, number):
        middle = "" if kind == "output" else f".{kind}"
        return f"{resource_type}{middle}.{number}.ndjson"

    def _open(self, kind, resource_type):
        key = (kind, resource_type)
        number = self.counters.get(key, 0) + 1
        self.counters[key] = number
        part = {
            "kind": kind,
            "type": resource_type,
            "number": number,
            "name": self._name(kind, resource_type, number),
            "lines": 0,
            "bytes": 0,
            "closed": False,
        }
        self.parts.append(part)
        entry = [(self.directory / part["name"]).open("wb", buffering=0), 0, 0, part, bytearray()]
        self.current[key] = entry
        return entry

    def _flush(self, entry):
        if entry[4]:
            _write_all(entry[0], entry[4])
            entry[4].clear()

    def _close(self, key):
        entry = self.current.pop(key)
        self._flush(entry)
        entry[0].close()
        entry[3].update(lines=entry[1], bytes=entry[2], closed=True)

    def write(self, resource_type, line, kind="output"):
        """Append one NDJSON line (bytes ending in a newline)."""
        key = (kind, resource_type)
        entry = self.current.get(key)
        if entry is None:
            entry = self._open(kind, resource_type)
        elif entry[1] >= self.max_lines or (entry[1] and entry[2] + len(line) > self.max_bytes):
            self._close(key)
            entry = self._open(kind, resource_type)
        buffer = entry[4]
        buffer += line
        entry[1] += 1
        entry[2] += len(line)
        if len(buffer) >= FLUSH_BYTES:
            self._flush(entry)

    def _entry_for(self, resource_type, size):
        """The open output part of a type that can take one more line of `size` bytes."""
        key = ("output", resource_type)
        entry = self.current.get(key)
        if entry is not None and (entry[1] >= self.max_lines or (entry[1] and entry[2] + size > self.max_bytes)):
            self._close(key)
            entry = None
        return entry if entry is not None else self._open("output", resource_type)

    def write_rows(self, rows):
        """
        The hot path of PostgreSQL export: rows are `type \\x02 json \\n` buffers (COPY CSV
        rows, see export.stream_rows), appended without copying them into intermediate bytes
        and with the per-type part looked up once per part rather than once per line.
        Returns the number of rows written.
        """
        entries = {}
        max_lines, max_bytes = self.max_lines, self.max_bytes
        count = 0
        for row in rows:
            head = bytes(row[:72])
            cut = head.index(2)
            key = head[:cut]
            size = len(row) - cut - 1
            entry = entries.get(key)
            if entry is None or entry[1] >= max_lines or (entry[1] and entry[2] + size > max_bytes):
                entry = entries[key] = self._entry_for(key.decode(), size)
            buffer = entry[4]
            buffer += row[cut + 1 :]
            entry[1] += 1
            entry[2] += size
            if len(buffer) >= FLUSH_BYTES:
                self._flush(entry)
            count += 1
        return count

    def write_block(self, resource_type, lines, kind="output"):
        """Append lines that must stay in one file (an organizeOutputBy block): a part that
        cannot take them all is closed first, so a file may pass the limits by one block only
        when the block alone is larger."""
        key = (kind, resource_type)
        entry = self.current.get(key)
        size = sum(len(line) for line in lines)
        if (
            entry is not None
            and entry[1]
            and (entry[1] + len(lines) > self.max_lines or entry[2] + size > self.max_bytes)
        ):
            self._close(key)
            entry = None
        if entry is None:
            entry = self._open(kind, resource_type)
        entry[4].extend(b"".join(lines))
        entry[1] += len(lines)
        entry[2] += size
        if len(entry[4]) >= FLUSH_BYTES:
            self._flush(entry)

    @property
    def lines(self):
        return sum(p["lines"] for p in self.parts if p["closed"]) + sum(e[1] for e in self.current.values())

    def checkpoint(self):
        """Flush every open file; returns the part list to store with the job's position."""
        for entry in self.current.values():
            self._flush(entry)
            entry[3].update(lines=entry[1], bytes=entry[2])
        return [dict(p) for p in self.parts]

    def close(self):
        """Close every part; returns the finished parts (empty ones are removed)."""
        for key in list(self.current):
            self._close(key)
        finished = []
        for part in self.parts:
            if part["lines"]:
                finished.append(part)
            else:
                (self.directory / part["name"]).unlink(missing_ok=True)
        return finished

    def abandon(self):
        """Close the files, dropping what was written since the last checkpoint's flush."""
        for entry in self.current.values():
            entry[0].close()
        self.current = {}

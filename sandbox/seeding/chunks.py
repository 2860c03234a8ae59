"""
The preparing half of seeding, without Django: generate a payer, validate it with fhir.resources
(all of it, or a sample), and turn it into chunks of rows ready for store.load_prepared.

For large payers this runs in a worker process (run_worker), so that generating and preparing
one chunk overlaps the database writes of the previous one (sandbox/seeding/populate.py).
"""

import traceback
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sandbox.fhirstore import loading
from sandbox.fhirstore.search_parameters import is_served
from sandbox.seeding import generator

VALIDATE_ALL = "all"
VALIDATE_SAMPLE = "sample"
VALIDATE_NONE = "none"
# The generator is deterministic and tests/seeding/test_generator.py validates everything it
# makes, so seeding validates a sample: every shared resource (payer, formulary, providers,
# attribution), the first members (the designed test members among them), then one member in
# SAMPLE_EVERY. A regression in the generator still stops seeding before its chunk is written.
FULLY_VALIDATED_MEMBERS = 50
SAMPLE_EVERY = 20


@dataclass
class Chunk:
    """Rows of a few thousand resources, written in one transaction, and the progress they make."""

    prepared: list
    when: datetime
    counts: Counter
    members_done: int
    phase: str


class InvalidGenerated(Exception):
    """Generated resources failed validation; `found` is [(reference, [(expression, message)])]."""

    def __init__(self, found):
        super().__init__(f"{found[0][0]} is not valid FHIR R4")
        self.found = found


def validates(batch, mode):
    """Whether the resources of generator batch `batch` are validated under `mode`."""
    if mode == VALIDATE_ALL:
        return True
    if mode != VALIDATE_SAMPLE:
        return False
    return (
        batch.phase != "members"
        or batch.members_done <= FULLY_VALIDATED_MEMBERS
        or batch.members_done % SAMPLE_EVERY == 0
    )


def iter_chunks(*, slug, name, members, seed, chunk_size, validate, local_bases, batches=generator.iter_batches):
    """
    Yield the generated payer as Chunks of at least chunk_size resources (the last may be
    smaller). Raises InvalidGenerated before yielding a chunk that holds an invalid resource.
    `batches` makes the generator batches; it must be picklable by reference to reach a worker.
    """
    problems_of = None
    if validate in (VALIDATE_ALL, VALIDATE_SAMPLE):
        # fhir.resources takes a second or two to import; only validating pays for it.
        from sandbox.fhirstore.resources import structural_problems as problems_of
    prepared, counts, found, when = [], Counter(), [], None
    for batch in batches(slug=slug, name=name, members=members, seed=seed):
        if when is None:
            when = loading.now()
        check = problems_of if problems_of is not None and validates(batch, validate) else None
        for resource in batch.resources:
            resource_type = resource["resourceType"]
            if not is_served(resource_type):
                found.append((f"{resource_type}/{resource.get('id')}", [(resource_type, "Not served here.")]))
                continue
            row = loading.prepare(resource, when, local_bases)
            # The rendered text only adds id and meta to the resource: validating it spares a json.dumps.
            problems = check(resource_type, row[2]) if check is not None else None
            if problems:
                found.append((f"{resource_type}/{row[1]}", problems))
            prepared.append(row)
            counts[resource_type] += 1
        if found:
            raise InvalidGenerated(found)
        if len(prepared) >= chunk_size:
            yield Chunk(prepared, when, counts, batch.members_done, batch.phase)
            prepared, counts, when = [], Counter(), None
    if prepared:
        yield Chunk(prepared, when, counts, batch.members_done, batch.phase)


def run_worker(queue, arguments):
    """
    Worker process body: put ("chunk", Chunk) for each chunk, then ("end", None); or
    ("invalid", found) / ("error", traceback text) when preparing fails. The queue is bounded,
    so the worker stays at most that many chunks ahead of the writes.
    """
    try:
        for chunk in iter_chunks(**arguments):
            queue.put(("chunk", chunk))
    except InvalidGenerated as exc:
        queue.put(("invalid", exc.found))
    except BaseException:
        queue.put(("error", traceback.format_exc()))
    else:
        queue.put(("end", None))

"""
A generator with one invalid member, for the seeding tests. Without Django imports, so that the
seeding worker process can import it (it is spawned, and monkeypatching does not reach it).
"""

from sandbox.seeding import generator

ORIGINAL = generator.iter_batches


def iter_batches(*, broken_member, **kwargs):
    """The generator's batches, with member `broken_member` reduced to a Patient whose birthDate is invalid."""
    for batch in ORIGINAL(**kwargs):
        if batch.phase == "members" and batch.members_done == broken_member:
            bad = {**batch.resources[0], "birthDate": "not a date"}
            batch = generator.Batch(batch.phase, batch.members_done, batch.members_total, (bad,))
        yield batch


def dying_iter_batches(*, die_at_member, **kwargs):
    """The generator's batches until member `die_at_member`, where the seeding worker process dies."""
    import multiprocessing
    import os

    for batch in ORIGINAL(**kwargs):
        if batch.phase == "members" and batch.members_done == die_at_member:
            # Only ever the spawned worker: exiting the test process itself would end the run.
            if multiprocessing.current_process().name != "seed-chunks":
                raise RuntimeError("dying_iter_batches runs only in the seeding worker process")
            os._exit(3)
        yield batch

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

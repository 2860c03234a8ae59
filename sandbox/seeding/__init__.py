"""
Synthetic payer data (issue 4): a pure, deterministic generator of FHIR R4 resources as dicts.

Entry points (sandbox.seeding.generator):
- generate_payer(slug=, name=, members=, seed=, reference_date=, progress=) -> iterator of resource dicts
- iter_batches(...) -> iterator of Batch(phase, members_done, members_total, resources)
- designed_members(slug=, name=, seed=) -> the designed test members with ready-made $member-match requests
"""

"""
Structural validation of generated resources in a second process, so that fhir.resources'
validation (about half of the seeding time) overlaps the indexing and database writes of the
previous chunk instead of adding to them.

Only pure imports here: the spawned process loads this module without Django.
"""

import json

from sandbox.fhirstore.resources import structural_problems


def chunk_problems(resources):
    """[(reference, [(expression, message), ...])] for the resources that are not valid FHIR R4."""
    found = []
    for resource in resources:
        problems = structural_problems(resource.get("resourceType", ""), json.dumps(resource))
        if problems:
            found.append((f"{resource.get('resourceType')}/{resource.get('id')}", problems))
    return found

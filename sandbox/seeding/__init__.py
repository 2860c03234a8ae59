"""Synthetic payer data: a deterministic generator of FHIR R4 resources (issue 4)."""

"""
The FHIR R4 store of each simulated payer (issue 3; DESIGN.md §7).

Service API for other apps (all run on the active tenant, inside tenants.context.tenant_scope):

- store.read / vread / create / update / delete / history / bulk_load   (store.py)
- search.search(type, query) -> SearchResult, search.match_ids(type, query)   (search.py)
- bundles.process(bundle, base) for batch/transaction; bundles.searchset(...) to render
- everything.everything(patient_id, ...) for Patient/$everything
- capability.register_operation(...) / register_guide(...) to declare what an app serves
- access.authorize(request, interaction, type) is the single authorisation entry point

Errors are sandbox.fhirstore.errors.FhirError subclasses carrying HTTP status and
OperationOutcome issues. Only resources.py imports fhir.resources (R4B).
"""

"""
Patient/[id]/$everything (FHIR R4 OperationDefinition Patient-everything; PDex SHALL from 2.1).

Returns the Patient and every resource in its compartment (Resource.patient_id), filtered by
`_since` and `_type`, paged by keyset on the row id like unsorted searches.
"""

from django.conf import settings

from sandbox.fhirstore import store
from sandbox.fhirstore.errors import InvalidSearch
from sandbox.fhirstore.models import Resource
from sandbox.fhirstore.search import SearchResult
from sandbox.fhirstore.search_parameters import is_served


def everything(patient_id, *, since=None, types=(), count=None, cursor=None, query=(), visible=None):
    """One page of a Patient's compartment as a SearchResult (all entries mode "match").

    `visible` (access.Caller.visible) narrows the compartment for restricted callers.
    """
    patient = store.read("Patient", patient_id)
    for name in types:
        if not is_served(name):
            raise InvalidSearch(f"_type names '{name}', which this server does not serve.", expression="_type")
    count = min(count or settings.FHIR_DEFAULT_PAGE_SIZE, settings.FHIR_MAX_PAGE_SIZE)
    qs = Resource.objects.filter(patient_id=patient_id, deleted=False).exclude(resource_type="Patient")
    if types:
        qs = qs.filter(resource_type__in=types)
    if since is not None:
        qs = qs.filter(last_updated__gte=since)
    if visible is not None:
        qs = visible(qs)
    result = SearchResult(resource_type="Patient", query=list(query), count=count)
    include_patient = (
        cursor is None and (not types or "Patient" in types) and (since is None or patient.last_updated >= since)
    )
    if include_patient:
        result.matches.append(Resource.objects.get(resource_type="Patient", fhir_id=patient_id))
    # The Patient counts against _count on the first page.
    limit = count - len(result.matches)
    page = qs.filter(pk__gt=cursor) if cursor is not None else qs
    rows = list(page.order_by("pk")[: limit + 1])
    if len(rows) > limit:
        rows = rows[:limit]
        result.next_params = [*result.query, ("_cursor", str(rows[-1].pk if rows else cursor or 0))]
    result.matches.extend(rows)
    result.total = qs.count() + (1 if include_patient else 0) if cursor is None else None
    return result

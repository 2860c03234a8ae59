"""
Reads and searches, fetched in the request's first round trip together with the payer and the
bearer token, so that each costs PostgreSQL one round trip in all.

- GET [base]/[type]/[id]: the resource's row is joined to the payer's
  (tenants.row_lookup.register_request_lookup); the read view takes it from the request.
- GET [base]/[type]?...: the search's page of matches runs as a statement of its own after
  the payer's (tenants.row_lookup.register_request_statements); `search` finds its rows there.

Either way the access checks run before anything fetched is served, and whatever the caller
may not see is dropped unseen: a restricted caller's search is another statement, which runs
in its turn.
"""

import re

from sandbox.fhirstore import search, store
from sandbox.fhirstore.models import Resource
from sandbox.fhirstore.search_parameters import is_served
from sandbox.fhirstore.views.base import prefer, query_pairs
from tenants import row_lookup
from tenants.context import activate, deactivate

_READ_PATH = re.compile(r"^/t/[^/]+/fhir/(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})/?$")


class ReadAhead:
    def parameters(self, request):
        if request.method not in ("GET", "HEAD"):
            return None
        match = _READ_PATH.match(request.path_info)
        if match is None or not is_served(match["type"]):
            return None
        return (match["type"], match["id"])

    def sql(self, tenant_alias):
        select = ", ".join(f"ra.{field}" for field in store.READ_FIELDS)
        join = (
            f"LEFT JOIN {Resource._meta.db_table} ra ON ra.tenant_id = {tenant_alias}.id "
            "AND ra.resource_type = %s AND ra.fhir_id = %s"
        )
        return select, join

    def width(self):
        return len(store.READ_FIELDS)

    def found(self, request, parameters, values):
        request._read_ahead = (parameters, None if values[0] is None else values)


def read(request, resource_type, fhir_id):
    """store.read(), from the row fetched ahead when the request has it."""
    ahead = getattr(request, "_read_ahead", None)
    if ahead is None or ahead[0] != (resource_type, fhir_id):
        return store.read(resource_type, fhir_id)
    return store.stored_from_row(resource_type, fhir_id, ahead[1])


_SEARCH_PATH = re.compile(r"^/t/[^/]+/fhir/(?P<type>[A-Z][A-Za-z]+)/?$")


class SearchAhead:
    def statements(self, request, tenant):
        if request.method not in ("GET", "HEAD") or not request.META.get("QUERY_STRING"):
            return ()
        match = _SEARCH_PATH.match(request.path_info)
        if match is None or not is_served(match["type"]):
            return ()
        resource_type, pairs = match["type"], query_pairs(request.GET.lists())
        strict = prefer(request, "handling") == "strict"
        token = activate(tenant)
        try:
            planned = search.plan_ahead(resource_type, pairs, strict=strict)
        finally:
            deactivate(token)
        if planned is None:
            return ()
        plan, statement = planned
        request._search_ahead = ((tenant.pk, resource_type, pairs, strict), plan)
        return (statement,)


def run_search(request, resource_type, pairs, *, strict, allowed_types, visible):
    """search.search(), with what was planned ahead for this request when it is that search."""
    ahead = getattr(request, "_search_ahead", None)
    planned = None
    if ahead is not None and ahead[0] == (request.tenant.pk, resource_type, pairs, strict):
        planned = ahead[1]
        request._search_ahead = None  # a plan holds its result: it serves one search
    return search.search(
        resource_type, pairs, strict=strict, allowed_types=allowed_types, visible=visible, planned=planned
    )


def register():
    row_lookup.register_request_lookup(ReadAhead())
    row_lookup.register_request_statements(SearchAhead())

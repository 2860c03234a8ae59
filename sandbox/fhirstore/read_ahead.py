"""
GET [base]/[type]/[id]: the resource's row is fetched in the request's first round trip,
together with the payer and the bearer token (tenants.row_lookup.register_request_lookup), so
that a read costs PostgreSQL one round trip in all. The read view takes the row from the
request; the access checks still run before anything of it is served.
"""

import re

from sandbox.fhirstore import store
from sandbox.fhirstore.models import Resource
from sandbox.fhirstore.search_parameters import is_served
from tenants import row_lookup

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


def register():
    row_lookup.register_request_lookup(ReadAhead())

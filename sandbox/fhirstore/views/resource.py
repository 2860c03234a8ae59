"""Instance and type interactions: read, vread, create, update, delete (FHIR R4 http.html)."""

from django.http import HttpResponse

from sandbox.fhirstore import read_ahead, store
from sandbox.fhirstore.views.base import (
    FhirView,
    raw_response,
    read_body,
    resource_headers,
    write_response,
)
from sandbox.fhirstore.views.search import search_response


class TypeView(FhirView):
    """[base]/[type]: search (GET) and create (POST, optionally conditional)."""

    def get(self, request, resource_type):
        store.check_type(resource_type)
        self.authorize(request, "search-type", resource_type)
        return search_response(request, resource_type, list(request.GET.lists()), self.caller)

    def post(self, request, resource_type):
        store.check_type(resource_type)
        self.authorize(request, "create", resource_type)
        body = read_body(request)
        condition = request.META.get("HTTP_IF_NONE_EXIST")
        stored, created = store.create(resource_type, body, if_none_exist=condition)
        if not created:
            return write_response(request, stored, 200, f"{stored.reference} already matches If-None-Exist.")
        return write_response(request, stored, 201, f"Created {stored.reference}.")


class InstanceView(FhirView):
    """[base]/[type]/[id]: read, update (client ids allowed), delete."""

    def get(self, request, resource_type, fhir_id):
        store.check_type(resource_type)
        self.authorize(request, "read", resource_type)
        self.caller.check_visible(resource_type, fhir_id)
        stored = read_ahead.read(request, resource_type, fhir_id)
        headers = resource_headers(stored)
        if request.META.get("HTTP_IF_NONE_MATCH", "").strip() == stored.etag:
            response = HttpResponse(status=304)
            for name, value in headers.items():
                response[name] = value
            return response
        # Most reads have no query: no QueryDict to build for them.
        query = request.GET if request.META.get("QUERY_STRING") else {}
        summary, elements = query.get("_summary", ""), query.get("_elements", "")
        if summary or elements:
            return raw_response(_subset_for_read(stored, summary, elements), headers=headers)
        return raw_response(stored.content, headers=headers)

    def put(self, request, resource_type, fhir_id):
        store.check_type(resource_type)
        self.authorize(request, "update", resource_type)
        body = read_body(request)
        stored, created = store.update(resource_type, fhir_id, body, if_match=request.META.get("HTTP_IF_MATCH"))
        if created:
            return write_response(request, stored, 201, f"Created {stored.reference}.")
        return write_response(request, stored, 200, f"Updated {stored.reference} to version {stored.version_id}.")

    def delete(self, request, resource_type, fhir_id):
        store.check_type(resource_type)
        self.authorize(request, "delete", resource_type)
        stored = store.delete(resource_type, fhir_id)
        response = HttpResponse(status=204)
        if stored is not None:
            response["ETag"] = stored.etag
        return response


class VersionView(FhirView):
    """[base]/[type]/[id]/_history/[vid]: vread."""

    def get(self, request, resource_type, fhir_id, version_id):
        store.check_type(resource_type)
        self.authorize(request, "vread", resource_type)
        stored = store.vread(resource_type, fhir_id, version_id)
        return raw_response(stored.content, headers=resource_headers(stored))


def _subset_for_read(stored, summary, elements):
    """_summary / _elements on read (FHIR R4 search.html#summary applies to read as well)."""
    from sandbox.fhirstore.bundles import subset
    from sandbox.fhirstore.errors import InvalidSearch

    if summary not in ("", "true", "false", "text", "data"):
        raise InvalidSearch(f"_summary={summary} is not supported on read.", expression="_summary")
    return subset(stored.content, stored.resource_type, summary, tuple(e for e in elements.split(",") if e))

"""A tenant URLconf for tests/tenants/test_transaction_on_demand.py."""

from django.db import connection
from django.http import HttpResponseServerError, JsonResponse
from django.urls import path

from tenants import row_lookup
from tenants.models import TenantJob


def write(request):
    TenantJob.objects.create(kind=TenantJob.Kind.PROVISION, message=request.GET["message"])
    if request.GET.get("fail"):
        return HttpResponseServerError("boom")
    return JsonResponse({"jobs": TenantJob.objects.count()})


def count_with_raw_sql(request):
    """Raw SQL through a Django cursor: no tenant filter but row-level security's."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TenantJob._meta.db_table}")
        return JsonResponse({"jobs": cursor.fetchone()[0]})


def count_with_psycopg(request):
    """psycopg's own cursor, as COPY uses it: row_lookup.begin() first."""
    row_lookup.begin()
    with connection.connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TenantJob._meta.db_table}")
        return JsonResponse({"jobs": cursor.fetchone()[0]})


urlpatterns = [
    path("write", write),
    path("count-raw", count_with_raw_sql),
    path("count-psycopg", count_with_psycopg),
]

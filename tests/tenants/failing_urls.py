"""A tenant URLconf whose only view writes a row and then fails (test_middleware)."""

from django.http import HttpResponseServerError
from django.urls import path

from tenants.models import TenantJob


def write_then_fail(request):
    TenantJob.objects.create(kind=TenantJob.Kind.PROVISION, message="half-done")
    return HttpResponseServerError("boom")


urlpatterns = [path("write-then-fail", write_then_fail)]

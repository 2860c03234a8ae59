"""_count, next/previous links, and paging that neither skips nor repeats when data changes."""

from urllib.parse import urlsplit

import pytest


def make_patients(api, n, prefix="p"):
    for i in range(n):
        api.put_resource(
            {
                "resourceType": "Patient",
                "id": f"{prefix}{i:02d}",
                "gender": "female",
                "name": [{"family": f"Fam{i % 3}"}],
            }
        )


def follow(api, url):
    parts = urlsplit(url)
    assert parts.path.startswith("/t/acme/fhir/")
    return api.client.get(f"{parts.path}?{parts.query}", **api.headers)


def link(bundle, relation):
    return next((item["url"] for item in bundle.get("link", []) if item["relation"] == relation), None)


def page_ids(bundle):
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def test_it_pages_with_absolute_next_and_previous_links(api):
    """Pages of _count with next until the end, and previous back."""
    make_patients(api, 7)
    first = api.get("Patient", {"_count": 3}).json()
    assert first["total"] == 7
    assert link(first, "next").startswith("http://testserver/t/acme/fhir/Patient?")
    assert link(first, "previous") is None
    second = follow(api, link(first, "next")).json()
    third = follow(api, link(second, "next")).json()
    assert link(third, "next") is None
    seen = page_ids(first) + page_ids(second) + page_ids(third)
    assert sorted(seen) == [f"p{i:02d}" for i in range(7)] and len(set(seen)) == 7
    back = follow(api, link(third, "previous")).json()
    assert page_ids(back) == page_ids(second)


def test_it_does_not_skip_or_repeat_when_data_changes(api):
    """Deleting a seen resource, updating another and adding new ones leave later pages intact."""
    make_patients(api, 6)
    first = api.get("Patient", {"_count": 3}).json()
    api.delete(f"Patient/{page_ids(first)[0]}")
    api.put_resource({"resourceType": "Patient", "id": page_ids(first)[1], "gender": "male"})
    make_patients(api, 2, prefix="new")
    second = follow(api, link(first, "next")).json()
    third = follow(api, link(second, "next")).json()
    rest = page_ids(second) + page_ids(third)
    assert not set(rest) & set(page_ids(first))
    assert {"p03", "p04", "p05"} <= set(rest)


def test_it_pages_sorted_results_from_a_snapshot(api):
    """_sort pages walk a fixed ordering even when sort keys change between pages."""
    make_patients(api, 5)
    first = api.get("Patient", {"_count": 2, "_sort": "-_id"}).json()
    assert page_ids(first) == ["p04", "p03"]
    api.put_resource({"resourceType": "Patient", "id": "p02", "gender": "male"})
    second = follow(api, link(first, "next")).json()
    third = follow(api, link(second, "next")).json()
    assert page_ids(second) == ["p02", "p01"]
    assert page_ids(third) == ["p00"]
    assert page_ids(follow(api, link(third, "previous")).json()) == ["p02", "p01"]


def test_it_does_not_let_another_tenant_use_a_page_link(api, other_api):
    """A snapshot id from one tenant is unknown to another."""
    make_patients(api, 3)
    first = api.get("Patient", {"_count": 1, "_sort": "_id"}).json()
    next_url = urlsplit(link(first, "next"))
    response = other_api.client.get(f"/t/beta/fhir/Patient?{next_url.query}", **other_api.headers)
    assert response.status_code == 400


def test_it_expires_and_prunes_sorted_page_links(api, tenant, settings):
    """Snapshot links stop working after FHIR_SEARCH_SNAPSHOT_TTL; the prune command deletes them."""
    from datetime import timedelta
    from io import StringIO

    from django.core.management import call_command
    from django.utils import timezone

    from sandbox.fhirstore.models import SearchSnapshot
    from tenants.context import tenant_scope

    make_patients(api, 3)
    first = api.get("Patient", {"_count": 1, "_sort": "_id"}).json()
    with tenant_scope(tenant):
        SearchSnapshot.objects.update(created_at=timezone.now() - timedelta(days=2))
    assert follow(api, link(first, "next")).status_code == 400
    out = StringIO()
    call_command("prune_search_snapshots", stdout=out)
    assert "Deleted 1" in out.getvalue()
    with tenant_scope(tenant):
        assert not SearchSnapshot.objects.exists()


@pytest.mark.django_db
def test_the_periodic_task_prunes_expired_snapshots_of_every_tenant(tenant, other_tenant, settings):
    """The beat entry 'prune-search-snapshots' runs this task (settings.CELERY_BEAT_SCHEDULE)."""
    from datetime import timedelta

    from django.utils import timezone

    from sandbox.fhirstore.models import SearchSnapshot
    from sandbox.fhirstore.tasks import prune_search_snapshots_task
    from tenants import rls
    from tenants.context import tenant_scope

    assert settings.CELERY_BEAT_SCHEDULE["prune-search-snapshots"]["task"] == prune_search_snapshots_task.name
    expired = timezone.now() - timedelta(seconds=settings.FHIR_SEARCH_SNAPSHOT_TTL + 60)
    for t in (tenant, other_tenant):
        with tenant_scope(t):
            SearchSnapshot.objects.create(resource_type="Patient", query="", ids="", total=0, created_at=expired)
            SearchSnapshot.objects.create(resource_type="Patient", query="", ids="", total=0)
    assert prune_search_snapshots_task.apply().get()["deleted"] == 2
    with rls.bypass():
        assert SearchSnapshot.unscoped.count() == 2

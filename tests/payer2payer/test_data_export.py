"""
Group/[id]/$davinci-data-export with exportType hl7.fhir.us.davinci-pdex#payertopayer on the
bulk engine (spec/payer-to-payer.md §4.2).
"""

import copy
import json

import pytest
from django.apps import apps

from sandbox.fhirstore.models import SearchToken
from sandbox.payer2payer.restriction import SENSITIVE_CODES
from tenants.context import tenant_scope
from tests.payer2payer.conftest import Fhir, make_client, make_token

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not apps.is_installed("sandbox.attribution"), reason="the attribution app serves the route"),
]
EXPORT_TYPE = "hl7.fhir.us.davinci-pdex#payertopayer"


@pytest.fixture
def matched_group(seeded, p2p, designed, django_capture_on_commit_callbacks):
    """The client's matched Group from a bulk match of the unique and the sensitive member (#regular)."""
    seeded.pdex_version = "2.1"
    seeded.save()
    api, _ = p2p
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "MemberBundle", "part": copy.deepcopy(designed[key]["request"]["parameter"])}
            for key in ("unique", "sensitive", "no-match")
        ],
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("Group/$bulk-member-match", body, HTTP_PREFER="respond-async")
    assert response.status_code == 202, response.content
    return response["Content-Location"].rsplit("/", 1)[1]


def _export(api, group_id, capture, **params):
    with capture(execute=True):
        return api.client.get(
            f"{api.base}/Group/{group_id}/$davinci-data-export",
            {"exportType": EXPORT_TYPE, **params},
            HTTP_PREFER="respond-async",
            **api.headers,
        )


def _download(api, status_url):
    path = status_url.split("testserver", 1)[-1]
    status = api.client.get(path, **api.headers)
    assert status.status_code == 200, status.content
    resources = []
    for output in status.json()["output"]:
        body = api.client.get(output["url"].split("testserver", 1)[-1], **api.headers)
        content = b"".join(body.streaming_content) if body.streaming else body.content
        resources += [json.loads(line) for line in content.decode().splitlines() if line]
    return resources


def test_it_exports_the_matched_members_only(p2p, seeded, designed, matched_group, django_capture_on_commit_callbacks):
    api, _ = p2p
    response = _export(api, matched_group, django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.content
    resources = _download(api, response["Content-Location"])
    patients = {r["id"] for r in resources if r["resourceType"] == "Patient"}
    expected = {designed[k]["expected_patients"][0].split("/")[1] for k in ("unique", "sensitive")}
    assert patients == expected
    assert any(r["resourceType"] == "Encounter" for r in resources)
    # #regular consent: the sensitive member's labelled data stays home.
    with tenant_scope(seeded):
        sensitive = set(
            SearchToken.objects.filter(param="_security", code__in=SENSITIVE_CODES).values_list(
                "resource__resource_type", "resource__fhir_id"
            )
        )
    assert sensitive
    assert not {(r["resourceType"], r["id"]) for r in resources} & sensitive


def test_it_refuses_another_clients_group(client, p2p, seeded, matched_group, django_capture_on_commit_callbacks):
    stranger = Fhir(client, seeded.slug, make_token(seeded, make_client(seeded, name="Other")))
    response = _export(stranger, matched_group, django_capture_on_commit_callbacks)
    assert response.status_code == 404


def test_it_refuses_a_group_that_is_not_a_match_result(p2p, seeded, django_capture_on_commit_callbacks):
    api, _ = p2p
    response = _export(api, "attribution-list-1", django_capture_on_commit_callbacks)
    assert response.status_code == 404

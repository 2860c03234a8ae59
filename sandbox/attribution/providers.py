"""
Who a token speaks for, and which attribution lists that provider holds (PDex Provider Access
§7.3: "the provider representative ... reaches only /Group/{id} for its own lists"; ATR §6.3).

A provider is an organization named by its NPI. A user-level token (authorization code) speaks
for the organization of its ProviderUser; a client-credentials token for the organization its
client is tied to (ProviderClient). Any other token is not a provider's and this app leaves it
alone. An organization's lists are the Groups whose identifier carries its NPI, or the TIN of
its Organization resource (ATR `identifier:npi` / `identifier:tin` slices).
"""

import json
from dataclasses import dataclass

from sandbox.fhirstore import search
from sandbox.fhirstore.models import Resource
from tenants import row_lookup
from tenants.context import require_tenant

NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
TIN_SYSTEM = "urn:oid:2.16.840.1.113883.4.4"
PROVIDER_GROUP_CODE = "http://hl7.org/fhir/us/davinci-pdex/CodeSystem/PdexMemberAttributionCS|pdexprovidergroup"


@dataclass(frozen=True)
class ProviderIdentity:
    organization_npi: str
    organization_name: str
    # "user" (a provider user's token) or "client" (a provider's system client).
    source: str
    # How the change log names the caller.
    actor: str


def identify_provider(token):
    """
    The ProviderIdentity a token speaks for, or None when it is not a provider's token.

    A user-level token whose user is no longer a provider user of this payer speaks for no
    organization ("" NPI) and so sees no list (fail closed).
    """
    from sandbox.oauth.models import ProviderUser

    if token is None:
        return None
    # Every API request with a token asks this, so the lookups are tenants.row_lookup ones.
    tenant_id = require_tenant().pk
    if token.user_id is not None:
        staff = row_lookup.get(ProviderUser, "tenant_id = %s AND user_id = %s", [tenant_id, token.user_id])
        name = getattr(token.user, "username", str(token.user_id))
        if staff is None:
            return ProviderIdentity("", "", "user", f"user {name}")
        return ProviderIdentity(staff.organization_npi, staff.organization_name, "user", f"user {name}")
    if token.application_id is None:
        return None
    # Loaded with the token (oauth.bearer.load_with_token), so usually no query here.
    link = getattr(token.application, "provider_client", None)
    if link is None:
        return None
    client_id = getattr(token.application, "client_id", "")
    return ProviderIdentity(link.organization_npi, link.organization_name, "client", f"client {client_id}")


def organization_tins(npi):
    """TINs on the provider's Organization resources (those carrying its NPI)."""
    tins = set()
    ids = search.match_ids("Organization", [("identifier", f"{NPI_SYSTEM}|{npi}")])
    for content in Resource.objects.filter(resource_type="Organization", fhir_id__in=ids).values_list(
        "content", flat=True
    ):
        for identifier in json.loads(content).get("identifier") or []:
            if isinstance(identifier, dict) and identifier.get("system") == TIN_SYSTEM and identifier.get("value"):
                tins.add(str(identifier["value"]))
    return tins


def organization_ids(npi):
    """Ids of the Organization resources carrying the NPI."""
    if not npi:
        return []
    return search.match_ids("Organization", [("identifier", f"{NPI_SYSTEM}|{npi}")])


def group_ids(npi):
    """
    Ids of the attribution lists of the organization with this NPI: ATR Groups with its NPI or
    TIN in `identifier` (ATR §6.2), and PDex provider Groups (code pdexprovidergroup) whose
    characteristic names it by NPI identifier or Organization reference (PDex §7.2).
    """
    if not npi:
        return set()
    found = set(search.match_ids("Group", [("identifier", f"{NPI_SYSTEM}|{npi}")]))
    for tin in organization_tins(npi):
        found.update(search.match_ids("Group", [("identifier", f"{TIN_SYSTEM}|{tin}")]))
    targets = [("characteristic-value-reference:identifier", f"{NPI_SYSTEM}|{npi}")]
    targets += [("characteristic-value-reference", f"Organization/{oid}") for oid in organization_ids(npi)]
    for target in targets:
        found.update(search.match_ids("Group", [target, ("code", PROVIDER_GROUP_CODE)]))
    return found

"""
The CapabilityStatement at [base]/metadata, generated from what the store really serves
(FHIR R4 capabilitystatement.html; SMART App Launch "oauth-uris" extension).

Other apps add what they implement with `register_operation()` and `register_guide()` in
their AppConfig.ready(), so the statement never claims an operation nobody serves.
"""

from django.utils import timezone

from sandbox.fhirstore.search_parameters import REFERENCE, REGISTRY, SERVED_TYPES

SOFTWARE_NAME = "Connectathon Payer Sandbox"
SOFTWARE_VERSION = "0.1.0"

# (resource type or None for system level, name, canonical definition)
_OPERATIONS = [
    ("Patient", "everything", "http://hl7.org/fhir/OperationDefinition/Patient-everything"),
]
# (canonical, PDex versions it applies to or None for all)
_GUIDES = [
    ("http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server|3.1.1", None),
    ("http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server|6.1.0", None),
    ("http://hl7.org/fhir/us/davinci-drug-formulary/CapabilityStatement/usdf-server", None),
    ("http://hl7.org/fhir/us/davinci-pdex/CapabilityStatement/pdex-server|2.0.0", {"2.0"}),
    ("http://hl7.org/fhir/us/davinci-pdex/CapabilityStatement/pdex-server|2.1.0", {"2.1"}),
    ("http://hl7.org/fhir/us/davinci-pdex/CapabilityStatement/pdex-server-6-1|2.1.0", {"2.1"}),
    ("http://hl7.org/fhir/us/davinci-pdex/CapabilityStatement/pdex-server|2.2.0", {"2.2"}),
]


# (resource type or None, name, definition, PDex versions): operations a PDex version renames
# or adds (payer-to-payer bulk member match exists from 2.1, under another canonical in 2.2).
_VERSIONED_OPERATIONS = []


def register_operation(resource_type, name, definition, pdex_versions=None):
    """Declare an operation (resource_type None = system level) in the CapabilityStatement,
    optionally only for tenants of the given PDex versions."""
    if pdex_versions:
        entry = (resource_type, name, definition, frozenset(pdex_versions))
        if entry not in _VERSIONED_OPERATIONS:
            _VERSIONED_OPERATIONS.append(entry)
        return
    entry = (resource_type, name, definition)
    if entry not in _OPERATIONS:
        _OPERATIONS.append(entry)


def _operations(resource_type, pdex_version):
    listed = [(n, d) for t, n, d in _OPERATIONS if t == resource_type]
    listed += [(n, d) for t, n, d, versions in _VERSIONED_OPERATIONS if t == resource_type and pdex_version in versions]
    return [{"name": n, "definition": d} for n, d in listed]


# Callables tenant -> [ImplementationGuide canonical|version], for guides whose version is a
# per-payer setting (e.g. US Drug Formulary 2.0.1 or 2.1.0).
_IMPLEMENTATION_GUIDES = []


def register_implementation_guides(func):
    """Declare a callable that lists, for a tenant, the ImplementationGuides it serves."""
    if func not in _IMPLEMENTATION_GUIDES:
        _IMPLEMENTATION_GUIDES.append(func)


def register_guide(canonical, pdex_versions=None):
    """Declare a CapabilityStatement this server instantiates (e.g. Bulk Data, once served)."""
    entry = (canonical, set(pdex_versions) if pdex_versions else None)
    if entry not in _GUIDES:
        _GUIDES.append(entry)


def _revincludes():
    out = {}
    for source_type, params in REGISTRY.items():
        for code, param in params.items():
            if param.type != REFERENCE:
                continue
            # Untargeted references (Basic.subject, Consent.actor, ...) would list every pair;
            # only Provenance's are worth advertising on every type (PDex asks for them).
            targets = param.targets or (SERVED_TYPES if source_type == "Provenance" else ())
            for target in targets:
                out.setdefault(target, set()).add(f"{source_type}:{code}")
    return out


def _resource_entry(resource_type, revincludes, pdex_version=None):
    params = REGISTRY[resource_type]
    entry = {
        "type": resource_type,
        "interaction": [
            {"code": code}
            for code in (
                "read",
                "vread",
                "update",
                "delete",
                "history-instance",
                "history-type",
                "create",
                "search-type",
            )
        ],
        "versioning": "versioned",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "not-supported",
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
        "searchInclude": sorted(f"{resource_type}:{c}" for c, p in params.items() if p.type == REFERENCE),
        "searchRevInclude": sorted(revincludes.get(resource_type, ())),
        "searchParam": [
            {"name": code, "definition": p.url, "type": p.type, "documentation": p.documentation}
            for code, p in sorted(params.items())
        ],
    }
    operations = _operations(resource_type, pdex_version)
    if operations:
        entry["operation"] = operations
    return entry


def capability_statement(tenant, base):
    """The CapabilityStatement dict for `tenant`, with URLs on the listener `base` belongs to."""
    root = base.rsplit("/fhir", 1)[0]
    revincludes = _revincludes()
    oauth = {
        "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
        "extension": [
            {"url": "token", "valueUri": f"{root}/oauth/token"},
            {"url": "authorize", "valueUri": f"{root}/oauth/authorize"},
            {"url": "register", "valueUri": f"{root}/oauth/register"},
            {"url": "introspect", "valueUri": f"{root}/oauth/introspect"},
        ],
    }
    rest = {
        "mode": "server",
        "documentation": f"Simulated payer {tenant.name}.",
        "security": {
            "cors": True,
            "extension": [oauth],
            "service": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                            "code": "SMART-on-FHIR",
                        }
                    ]
                }
            ],
            "description": "Bearer tokens from this payer's OAuth server. Formulary types are public"
            + ("." if tenant.formulary_public else " only when the payer allows it (currently off)."),
        },
        "resource": [_resource_entry(t, revincludes, tenant.pdex_version) for t in SERVED_TYPES],
        "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}],
    }
    system_operations = _operations(None, tenant.pdex_version)
    if system_operations:
        rest["operation"] = system_operations
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": timezone.now().strftime("%Y-%m-%d"),
        "publisher": SOFTWARE_NAME,
        "kind": "instance",
        "instantiates": [c for c, versions in _GUIDES if versions is None or tenant.pdex_version in versions],
        "implementationGuide": [guide for func in _IMPLEMENTATION_GUIDES for guide in func(tenant)],
        "software": {"name": SOFTWARE_NAME, "version": SOFTWARE_VERSION},
        "implementation": {"description": f"{tenant.name} FHIR API", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [rest],
    }

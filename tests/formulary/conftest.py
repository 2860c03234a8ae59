import json
from pathlib import Path

import pytest

from sandbox.fhirstore import store
from tenants.context import tenant_scope

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fhir"
# The US Drug Formulary 2.0.1 IG examples (spec/examples/formulary).
IG_EXAMPLES = [
    "Location-StateOfCTLocation.json",
    "MedicationKnowledge-FormularyDrug-1000091.json",
    "MedicationKnowledge-FormularyDrug-1049640.json",
    "MedicationKnowledge-FormularyDrug-1541228.json",
    "MedicationKnowledge-FormularyDrug-209459.json",
    "MedicationKnowledge-FormularyDrug-284520.json",
    "InsurancePlan-FormularyD1002.json",
    "InsurancePlan-FormularyD3004t.json",
    "InsurancePlan-PayerInsurancePlanA1002.json",
    "InsurancePlan-PayerInsurancePlanA3004t.json",
    "Basic-FormularyItem-D1002-1000091.json",
    "Basic-FormularyItem-D1002-1049640.json",
    "Basic-FormularyItem-D1002-209459.json",
    "Basic-FormularyItem-D1002-284520.json",
    "Basic-FormularyItem-D3004t-1049640.json",
]


def example(name):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def formulary(tenant):
    """The IG examples stored in Acme under their own ids; returns {id: example}."""
    loaded = {}
    with tenant_scope(tenant):
        for name in IG_EXAMPLES:
            resource = example(name)
            store.update(resource["resourceType"], resource["id"], json.dumps(resource))
            loaded[resource["id"]] = resource
    return loaded

"""
Formulary bulk export (US Drug Formulary STU2 §"Formulary Bulk Export"; spec/formulary.md §5):
`InsurancePlan/$export` (every plan and formulary) and `InsurancePlan/[id]/$export` (one
payer plan or formulary with exactly what it links), on the Bulk Data engine.

Public when the payer's formulary is public: an anonymous kick-off makes a public job whose
status and files need no token (manifest `requiresAccessToken: false`), and nothing records
who asked. A caller with a token gets an ordinary job tied to its client.
"""

from sandbox.bulk import export, kickoff
from sandbox.fhirstore.errors import FhirError
from sandbox.fhirstore.models import Resource
from sandbox.fhirstore.views.base import FhirView, media_type, parse_json, read_body
from sandbox.formulary.graph import EXPORTED_TYPES, changed_plans, graph
from sandbox.formulary.models import FormularySettings


class NotFound(FhirError):
    status, code = 404, "not-found"


class FormularyExportView(FhirView):
    def get(self, request, plan_id=None):
        return self._kickoff(request, plan_id, None)

    def post(self, request, plan_id=None):
        body = read_body(request)
        parsed = parse_json(body) if body.strip() or media_type(request) else None
        return self._kickoff(request, plan_id, parsed)

    def _kickoff(self, request, plan_id, body):
        caller = self.authorize(request, "search-type", "InsurancePlan")
        readable = caller.readable_types(request.tenant)
        if (
            plan_id is not None
            and not Resource.objects.filter(resource_type="InsurancePlan", fhir_id=plan_id, deleted=False).exists()
        ):
            raise NotFound(f"There is no InsurancePlan/{plan_id} to export.")

        lenient = kickoff.is_lenient(request)
        params, issues = kickoff.parse(kickoff.read_pairs(request, body), level="system", lenient=lenient)
        if params["_typeFilter"]:
            problem = "_typeFilter is not supported by the formulary export: it always exports the plan's graph."
            if not lenient:
                raise FhirError(
                    problem + " Send Prefer: handling=lenient to have it ignored.", expression="_typeFilter"
                )
            issues.append(["warning", "not-supported", problem, "_typeFilter"])

        plan_ids = [plan_id] if plan_id is not None else None
        if params["_since"] and FormularySettings.for_tenant(request.tenant).usdf_version == "2.1.0":
            # STU2.1: `_since` selects the plans whose graph changed, and each of them ships
            # whole, older linked resources included (spec/formulary.md §5.1).
            plan_ids = changed_plans(plan_ids, params["_since"])
            params["_since"] = None
        ids = graph(plan_ids)
        exported = [t for t in EXPORTED_TYPES if ids[t] and (readable is None or t in readable)]
        # The graph, as one _id filter per type, so the engine streams exactly these rows.
        params["_typeFilter"] = {t: ["_id=" + ",".join(sorted(ids[t]))] for t in exported}
        if not exported:
            params["_type"] = None
        job = export.start_export(
            tenant=request.tenant,
            application=caller.token.application if caller.kind == "token" else None,
            level="system",
            params=params,
            request_url=request.build_absolute_uri(),
            types_allowed=exported,
            lenient=lenient,
            issues=issues,
            operation="formulary-export",
        )
        return export.kickoff_response(request, job)

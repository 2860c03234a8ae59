"""
Dashboard pages for a payer's data: members, attribution lists, formularies, upload and reset.

Each view checks membership with tenants.views._get_payer_for_user (404 for non-members),
runs its reads and writes inside one tenant_scope (a failed write rolls everything back) and
turns the store's NotFound / Gone into a 404, so another payer's ids find nothing.
"""

import json
from contextlib import contextmanager

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from sandbox.fhirstore.errors import FhirError, Gone, NotFound
from sandbox.fhirstore.models import Resource
from sandbox.seeding import attribution_lists, formulary_editing, populate, roster, uploads
from sandbox.seeding.forms import (
    AttributionListForm,
    DrugForm,
    FormularyForm,
    ListMemberForm,
    ListStatusForm,
    MemberForm,
    MemberSearchForm,
    PlanForm,
    UploadForm,
)
from sandbox.seeding.formulary import TIERS
from tenants.context import tenant_scope
from tenants.views import _get_payer_for_user

MEMBERS_PER_PAGE = 25


@contextmanager
def _scope(tenant):
    """tenant_scope in which a missing or deleted resource means 404."""
    try:
        with tenant_scope(tenant):
            yield
    except (NotFound, Gone) as exc:
        raise Http404(str(exc)) from None


def _posted(request):
    # Not `request.POST or None`: an empty POST must still bind the form and show "required".
    return request.POST if request.method == "POST" else None


def _explain(form, exc):
    """Put a store or service error on the form: the user sees why nothing was saved."""
    if isinstance(exc, FhirError):
        details = [f"{expr}: {msg}" if expr else msg for _s, _c, msg, expr in (exc.issues or [])]
        form.add_error(None, " ".join([str(exc.args[0]) if exc.args else "Invalid data.", *details]))
    else:
        form.add_error(None, str(exc))


# --- Overview, upload and reset ------------------------------------------------------------


@login_required
def data_home(request, slug):
    tenant, membership = _get_payer_for_user(request, slug)
    with _scope(tenant):
        counts = list(
            Resource.objects.filter(deleted=False)
            .values_list("resource_type")
            .annotate(n=Count("pk"))
            .order_by("resource_type")
        )
    members, seed = populate.seed_of(tenant)
    context = {
        "tenant": tenant,
        "counts": counts,
        "total": sum(n for _t, n in counts),
        "members": members,
        "seed": seed,
        "reset_job": populate.latest_reset_job(tenant),
        "upload_form": UploadForm(),
    }
    return render(request, "seeding/data_home.html", context)


@login_required
@require_POST
def data_reset(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    if not tenant.is_ready:
        messages.error(request, "The payer is still being created; reset it once it is ready.")
        return redirect("seeding-data", tenant.slug)
    with transaction.atomic():
        blocked = uploads.reset_blocked_by_load(tenant)
        if blocked:
            messages.error(request, blocked)
            return redirect("seeding-data", tenant.slug)
        job, created = populate.create_reset_job(tenant, user=request.user)
        if created:
            populate.enqueue_reset(job)
    if created:
        messages.success(request, "Resetting the data to its seed.")
    else:
        messages.info(request, "A reset is already under way.")
    return redirect("seeding-data", tenant.slug)


@login_required
def data_reset_progress(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    job = populate.latest_reset_job(tenant)
    return JsonResponse({"payer": tenant.slug, "job": job.as_progress() if job else None})


@login_required
def data_upload(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    form = UploadForm(request.POST, request.FILES) if request.method == "POST" else UploadForm()
    if request.method == "POST" and form.is_valid():
        files = form.cleaned_data["files"]
        try:
            uploads.create_load_job(tenant, files, user=request.user)
        except uploads.Busy as exc:
            form.add_error(None, str(exc))
        else:
            count = len(files)
            messages.success(request, f"Received {count} file{'s' if count != 1 else ''}; a worker is loading them.")
            return redirect("seeding-upload", tenant.slug)
    job = uploads.latest_load_job(tenant)
    context = {"tenant": tenant, "form": form, "job": job, "job_progress": job and uploads.progress(tenant, job)}
    return render(request, "seeding/upload.html", context)


@login_required
def data_upload_progress(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    job = uploads.latest_load_job(tenant)
    return JsonResponse({"payer": tenant.slug, "job": uploads.progress(tenant, job) if job else None})


# --- Members -------------------------------------------------------------------------------


@login_required
def member_list(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    search = MemberSearchForm(request.GET or None)
    query = search.cleaned_data.get("q", "") if search.is_valid() else ""
    with _scope(tenant):
        paginator = Paginator(roster.search_members(query), MEMBERS_PER_PAGE)
        page = paginator.get_page(request.GET.get("page"))
        rows = roster.rows(page.object_list)
    return render(
        request,
        "seeding/member_list.html",
        {"tenant": tenant, "search": search, "query": query, "page": page, "rows": rows},
    )


@login_required
def member_detail(request, slug, patient_id):
    tenant, _ = _get_payer_for_user(request, slug)
    with _scope(tenant):
        patient = roster.read_patient(patient_id)
        coverages = roster.coverages(patient_id)
        counts = roster.data_counts(patient_id)
        request_json = json.dumps(
            roster.member_match_request(tenant, patient, coverages[0] if coverages else None), indent=2
        )
    context = {
        "tenant": tenant,
        "patient": patient,
        "name": roster.display_name(patient),
        "member_id": roster.member_id_of(patient),
        "coverages": coverages,
        "counts": sorted(counts.items()),
        "total": sum(counts.values()),
        "member_match_request": request_json,
        "member_match_url": f"{tenant.endpoints()['fhir_base_url']}/Patient/$member-match",
    }
    return render(request, "seeding/member_detail.html", context)


def _member_initial(patient, coverage):
    name = (patient.get("name") or [{}])[0]
    address = (patient.get("address") or [{}])[0]
    telecom = {t.get("system"): t.get("value") for t in reversed(patient.get("telecom", []))}
    initial = {
        "family": name.get("family", ""),
        "given": " ".join(name.get("given", [])),
        "gender": patient.get("gender", ""),
        "birth_date": patient.get("birthDate", ""),
        "member_id": roster.member_id_of(patient),
        "phone": telecom.get("phone", ""),
        "email": telecom.get("email", ""),
        "line": " ".join(address.get("line", [])),
        "city": address.get("city", ""),
        "state": address.get("state", ""),
        "postal_code": address.get("postalCode", ""),
    }
    if coverage:
        plan_ext = [e for e in coverage.get("extension", []) if e.get("url", "").endswith("Coverage.insurancePlan")]
        plan_ref = plan_ext[0]["valueReference"]["reference"] if plan_ext else ""
        period = coverage.get("period", {})
        initial.update(
            {
                "plan_id": plan_ref.removeprefix("InsurancePlan/"),
                "relationship": (coverage.get("relationship", {}).get("coding") or [{}])[0].get("code", "self"),
                "subscriber_id": coverage.get("subscriberId", ""),
                "coverage_start": period.get("start", ""),
                "coverage_end": period.get("end", ""),
            }
        )
    return initial


def _member_form_view(request, tenant, patient_id=None):
    with _scope(tenant):
        plans = roster.plans()
        initial = {}
        if patient_id:
            initial = _member_initial(roster.read_patient(patient_id), roster.current_coverage(patient_id))
    form = MemberForm(_posted(request), initial=initial, plans=plans)
    if request.method == "POST" and form.is_valid():
        try:
            with _scope(tenant):
                saved = roster.save_member(tenant, form.cleaned_data, patient_id)
        except roster.MemberConflict as exc:
            form.add_error("member_id", str(exc))
        except FhirError as exc:
            _explain(form, exc)
        else:
            messages.success(request, f"Saved {form.cleaned_data['given']} {form.cleaned_data['family']}.")
            return redirect("seeding-member", tenant.slug, saved)
    return render(request, "seeding/member_form.html", {"tenant": tenant, "form": form, "patient_id": patient_id})


@login_required
def member_create(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    return _member_form_view(request, tenant)


@login_required
def member_edit(request, slug, patient_id):
    tenant, _ = _get_payer_for_user(request, slug)
    return _member_form_view(request, tenant, patient_id)


@login_required
def member_delete(request, slug, patient_id):
    tenant, _ = _get_payer_for_user(request, slug)
    with _scope(tenant):
        patient = roster.read_patient(patient_id)
        counts = roster.data_counts(patient_id)
        if request.method == "POST":
            deleted = roster.delete_member(patient_id)
    name = roster.display_name(patient)
    if request.method == "POST":
        messages.success(request, f"Deleted {name} and {deleted - 1} resources of their data.")
        return redirect("seeding-members", tenant.slug)
    return render(
        request,
        "seeding/member_delete.html",
        {"tenant": tenant, "patient": patient, "name": name, "total": sum(counts.values())},
    )


# --- Attribution lists ---------------------------------------------------------------------


def _list_summary(group):
    return {
        "id": group["id"],
        "name": group.get("name", group["id"]),
        "status": attribution_lists.list_status(group),
        "members": sum(1 for entry in group.get("member", []) if not entry.get("inactive")),
        "entries": len(group.get("member", [])),
    }


@login_required
def list_index(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    with _scope(tenant):
        groups = [_list_summary(g) for g in attribution_lists.attribution_lists()]
        organizations = attribution_lists.provider_organizations()
    form = AttributionListForm(_posted(request), organizations=organizations)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with _scope(tenant):
                group_id = attribution_lists.create_list(
                    tenant,
                    organization_id=data["organization"],
                    name=data["name"],
                    status=data["status"],
                    start=data["start"],
                    end=data["end"],
                )
        except FhirError as exc:
            _explain(form, exc)
        else:
            messages.success(request, "Attribution list created.")
            return redirect("seeding-list", tenant.slug, group_id)
    return render(request, "seeding/list_index.html", {"tenant": tenant, "groups": groups, "form": form})


def _render_list(request, tenant, group_id, *, member_form=None, status_form=None, status=200):
    with _scope(tenant):
        group = attribution_lists.read_list(group_id)
    entries = []
    for entry in group.get("member", []):
        ext = {e["url"]: e for e in entry.get("extension", [])}
        entries.append(
            {
                "patient_id": entry.get("entity", {}).get("reference", "").removeprefix("Patient/"),
                "display": entry.get("entity", {}).get("display", ""),
                "change": ext.get(attribution_lists.CHANGE_URL, {}).get("valueCode", ""),
                "provider": ext.get(attribution_lists.PROVIDER_URL, {}).get("valueReference", {}).get("reference", ""),
                "period": entry.get("period", {}),
                "inactive": entry.get("inactive", False),
            }
        )
    summary = _list_summary(group)
    context = {
        "tenant": tenant,
        "group": group,
        "summary": summary,
        "entries": entries,
        "member_form": member_form or ListMemberForm(),
        "status_form": status_form or ListStatusForm(initial={"status": summary["status"]}),
    }
    return render(request, "seeding/list_detail.html", context, status=status)


@login_required
def list_detail(request, slug, group_id):
    tenant, _ = _get_payer_for_user(request, slug)
    return _render_list(request, tenant, group_id)


def _resolve_member(text):
    """A Patient id from a Patient id or a member id (inside a tenant scope)."""
    text = text.strip()
    if Resource.objects.filter(resource_type="Patient", fhir_id=text, deleted=False).exists():
        return text
    for row in roster.search_members(text)[:20] if text else ():
        if roster.member_id_of(json.loads(row.content)).upper() == text.upper():
            return row.fhir_id
    return None


@login_required
@require_POST
def list_add_member(request, slug, group_id):
    tenant, _ = _get_payer_for_user(request, slug)
    form = ListMemberForm(request.POST)
    if form.is_valid():
        try:
            with _scope(tenant):
                patient_id = _resolve_member(form.cleaned_data["member"])
                if patient_id is None:
                    raise attribution_lists.ListError(f"No member has the id '{form.cleaned_data['member']}'.")
                attribution_lists.add_member(group_id, patient_id)
        except (attribution_lists.ListError, FhirError) as exc:
            form.add_error("member", str(exc.args[0]) if exc.args else str(exc))
        else:
            messages.success(request, "Member added to the list.")
            return redirect("seeding-list", tenant.slug, group_id)
    return _render_list(request, tenant, group_id, member_form=form, status=400)


@login_required
@require_POST
def list_remove_member(request, slug, group_id, patient_id):
    tenant, _ = _get_payer_for_user(request, slug)
    try:
        with _scope(tenant):
            attribution_lists.remove_member(group_id, patient_id)
    except attribution_lists.ListError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Member removed from the list.")
    return redirect("seeding-list", tenant.slug, group_id)


@login_required
@require_POST
def list_set_status(request, slug, group_id):
    tenant, _ = _get_payer_for_user(request, slug)
    form = ListStatusForm(request.POST)
    if not form.is_valid():
        return _render_list(request, tenant, group_id, status_form=form, status=400)
    with _scope(tenant):
        attribution_lists.set_status(group_id, form.cleaned_data["status"])
    messages.success(request, f"List status set to {form.cleaned_data['status']}.")
    return redirect("seeding-list", tenant.slug, group_id)


# --- Formularies ---------------------------------------------------------------------------


@login_required
def formulary_index(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    with _scope(tenant):
        formularies = formulary_editing.formularies()
        plans = formulary_editing.payer_plans()
    return render(
        request, "seeding/formulary_index.html", {"tenant": tenant, "formularies": formularies, "plans": plans}
    )


@login_required
def formulary_create(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    form = FormularyForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            with _scope(tenant):
                formulary_id = formulary_editing.create_formulary(tenant, **form.cleaned_data)
        except (FhirError, formulary_editing.FormularyError) as exc:
            _explain(form, exc)
        else:
            messages.success(request, "Formulary created.")
            return redirect("seeding-formulary", tenant.slug, formulary_id)
    return render(request, "seeding/simple_form.html", {"tenant": tenant, "form": form, "title": "New formulary"})


@login_required
def plan_create(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    with _scope(tenant):
        choices = [
            (f["id"], f.get("name", f["id"])) for f in formulary_editing.formularies() if f.get("status") == "active"
        ]
    form = PlanForm(_posted(request), formularies=choices)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with _scope(tenant):
                formulary_editing.create_plan(
                    tenant,
                    name=data["name"],
                    identifier=data["identifier"],
                    product_type=data["product_type"],
                    formulary_ids=data["formularies"],
                    start=data["start"],
                    end=data["end"],
                )
        except (FhirError, formulary_editing.FormularyError) as exc:
            _explain(form, exc)
        else:
            messages.success(request, f"Plan {data['name']} created.")
            return redirect("seeding-formularies", tenant.slug)
    return render(request, "seeding/simple_form.html", {"tenant": tenant, "form": form, "title": "New plan"})


def _render_formulary(request, tenant, formulary_id, *, drug_form=None, status=200):
    with _scope(tenant):
        formulary = formulary_editing.read_formulary(formulary_id)
        items = formulary_editing.formulary_items(formulary_id)
    context = {
        "tenant": tenant,
        "formulary": formulary,
        "items": items,
        "drug_form": drug_form or DrugForm(),
        "catalog": formulary_editing.terms.drug_catalog(),
        "tiers": TIERS,
    }
    return render(request, "seeding/formulary_detail.html", context, status=status)


@login_required
def formulary_detail(request, slug, formulary_id):
    tenant, _ = _get_payer_for_user(request, slug)
    return _render_formulary(request, tenant, formulary_id)


@login_required
@require_POST
def formulary_add_drug(request, slug, formulary_id):
    tenant, _ = _get_payer_for_user(request, slug)
    form = DrugForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            with _scope(tenant):
                formulary_editing.add_drug(
                    formulary_id,
                    drug_text=data["drug"],
                    tier=data["tier"],
                    prior_authorization=data["prior_authorization"],
                    step_therapy=data["step_therapy"],
                    quantity_limit=data["quantity_limit"],
                    quantity_note=data["quantity_note"],
                )
        except formulary_editing.FormularyError as exc:
            form.add_error("drug", str(exc))
        except FhirError as exc:
            _explain(form, exc)
        else:
            messages.success(request, "Drug added to the formulary.")
            return redirect("seeding-formulary", tenant.slug, formulary_id)
    return _render_formulary(request, tenant, formulary_id, drug_form=form, status=400)


@login_required
@require_POST
def formulary_remove_item(request, slug, formulary_id, item_id):
    tenant, _ = _get_payer_for_user(request, slug)
    try:
        with _scope(tenant):
            formulary_editing.remove_item(formulary_id, item_id)
    except formulary_editing.FormularyError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Drug removed from the formulary.")
    return redirect("seeding-formulary", tenant.slug, formulary_id)


@login_required
@require_POST
def formulary_retire(request, slug, formulary_id):
    tenant, _ = _get_payer_for_user(request, slug)
    try:
        with _scope(tenant):
            formulary_editing.retire_formulary(formulary_id)
    except formulary_editing.FormularyError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Formulary retired.")
    return redirect(reverse("seeding-formulary", args=[tenant.slug, formulary_id]))

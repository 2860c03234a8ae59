"""
The management API (/api/v1/): the command-line operations over HTTP (DESIGN §5), for test
harnesses and CI pipelines. Authentication: a personal API token (`Authorization: Token ...`,
made on /accounts/api-token/) or the dashboard session. A payer is visible only to its members.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from sandbox.api.serializers import (
    ExchangeRequestSerializer,
    ParticipantSerializer,
    PayerSerializer,
    TokenRequestSerializer,
)
from tenants import provisioning
from tenants.forms import suggest_slug
from tenants.models import Membership, Tenant


def _membership(request, slug):
    membership = Membership.objects.select_related("tenant").filter(tenant__slug=slug, user=request.user).first()
    if membership is None:
        raise NotFound(f"You are not a member of a payer '{slug}'.")
    return membership


def _payer(request, tenant):
    job = provisioning.latest_job(tenant)
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "pdex_version": tenant.pdex_version,
        "status": tenant.status,
        "job": job.as_progress() if job else None,
        "url": request.build_absolute_uri(reverse("api-payer", args=[tenant.slug])),
        **tenant.endpoints(),
    }


class PayerListView(APIView):
    @extend_schema(responses=PayerSerializer(many=True), summary="Your simulated payers")
    def get(self, request):
        tenants = Tenant.objects.filter(memberships__user=request.user).order_by("name")
        return Response([_payer(request, t) for t in tenants])

    @extend_schema(
        request=PayerSerializer,
        responses={202: OpenApiResponse(description="Created; its creation job runs on a worker (poll the url).")},
        summary="Create a simulated payer",
    )
    def post(self, request):
        serializer = PayerSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        slug = data.get("slug") or suggest_slug(data["name"])
        params = {k: data[k] for k in ("members", "seed") if k in data}
        try:
            with transaction.atomic():
                tenant, job = provisioning.create_payer(
                    name=data["name"], slug=slug, pdex_version=data["pdex_version"], owner=request.user, params=params
                )
                provisioning.enqueue(job)
        except ValidationError as exc:
            return Response(exc.message_dict, status=status.HTTP_400_BAD_REQUEST)
        except IntegrityError:
            return Response({"slug": [f"The slug '{slug}' is already taken."]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(_payer(request, tenant), status=status.HTTP_202_ACCEPTED)


class PayerDetailView(APIView):
    @extend_schema(summary="A payer: status, creation progress and its URLs")
    def get(self, request, slug):
        return Response(_payer(request, _membership(request, slug).tenant))

    @extend_schema(summary="Delete a payer and everything it owns (owners only)", responses={204: None})
    def delete(self, request, slug):
        membership = _membership(request, slug)
        if membership.role != Membership.Role.OWNER:
            raise PermissionDenied("Only an owner of this payer can delete it.")
        provisioning.delete_payer(membership.tenant)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenView(APIView):
    @extend_schema(request=TokenRequestSerializer, summary="Mint a bearer token (as manage.py mint_token)")
    def post(self, request, slug):
        from sandbox.oauth.tokens import mint_token

        tenant = _membership(request, slug).tenant
        if not tenant.is_ready:
            return Response({"detail": f"Payer '{slug}' is {tenant.status}."}, status=status.HTTP_409_CONFLICT)
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = mint_token(
            tenant, scope=serializer.validated_data["scope"], lifetime=serializer.validated_data["lifetime"]
        )
        return Response(
            {"access_token": token.token, "token_type": "Bearer", "scope": token.scope, "expires_at": token.expires},
            status=status.HTTP_201_CREATED,
        )


class ParticipantView(APIView):
    @extend_schema(request=ParticipantSerializer, summary="Register an outside participant (as register_participant)")
    def post(self, request):
        from sandbox.trust import authority, certificates

        serializer = ParticipantSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            entry, cert, key = certificates.register_participant(
                data["name"],
                endpoint_url=data["endpoint"],
                naic=data["naic"],
                npi=data["npi"],
                tin=data["tin"],
                created_by=request.user,
                csr_pem=data.get("csr"),
            )
        except authority.CertificateError as exc:
            return Response({"csr": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        certificates.publish_trust()
        body = {
            "entry": entry.slug,
            "certificate_pem": authority.to_pem(cert.der).decode(),
            "ca_pem": authority.to_pem(cert.authority.certificate_der).decode(),
            "x5t#S256": cert.thumbprint,
        }
        if key is not None:
            body["private_key_pem"] = authority.key_to_pem(key).decode()
        return Response(body, status=status.HTTP_201_CREATED)


def _run(request, slug, run):
    return {
        "id": run.pk,
        "status": run.status,
        "target": run.target_name,
        "member": run.patient_id,
        "summary": run.summary,
        "stored": run.stored,
        "unchanged": run.unchanged,
        "steps": run.steps,
        "url": request.build_absolute_uri(reverse("api-exchange", args=[slug, run.pk])),
    }


class ExchangeListView(APIView):
    @extend_schema(request=ExchangeRequestSerializer, summary="Pull a member's history from another payer")
    def post(self, request, slug):
        from sandbox.payer2payer import exchange
        from sandbox.payer2payer.management.commands.run_exchange import find_entry

        tenant = _membership(request, slug).tenant
        serializer = ExchangeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        entry = find_entry(serializer.validated_data["target"])
        if entry is None:
            return Response({"target": ["No such directory entry."]}, status=status.HTTP_400_BAD_REQUEST)
        with transaction.atomic():
            run = exchange.start_run(tenant, entry, serializer.validated_data["member"], user=request.user)
        return Response(_run(request, slug, run), status=status.HTTP_202_ACCEPTED)


class ExchangeDetailView(APIView):
    @extend_schema(summary="An exchange run and its step-by-step report")
    def get(self, request, slug, run_id):
        from sandbox.payer2payer.models import ExchangeRun
        from tenants.context import tenant_scope

        tenant = _membership(request, slug).tenant
        with tenant_scope(tenant):
            run = ExchangeRun.objects.filter(pk=run_id).first()
        if run is None:
            raise NotFound("No such exchange run.")
        return Response(_run(request, slug, run))

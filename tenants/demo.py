"""The demo account and demo payers that `runsandbox` creates on first start."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from tenants import provisioning
from tenants.models import Membership, Tenant

DEMO_USERNAME = "demo"
DEMO_PAYERS = [
    ("acme-health", "Acme Health Plan"),
    ("bluebird-health", "Bluebird Health"),
]


def ensure_demo_account():
    """Create the demo user if missing. Returns (user, password shown to the operator or None).

    With SANDBOX_DEMO_PASSWORD set, that password is (re)applied on every start; otherwise a
    random one is generated on the first start only and never stored in clear.
    """
    User = get_user_model()
    user = User.objects.filter(username=DEMO_USERNAME).first()
    configured = settings.SANDBOX_DEMO_PASSWORD
    if user is None:
        password = configured or secrets.token_urlsafe(12)
        user = User.objects.create_user(DEMO_USERNAME, email="demo@sandbox.invalid", password=password)
        return user, (None if configured else password)
    if configured and not user.check_password(configured):
        user.set_password(configured)
        user.save(update_fields=["password"])
    return user, None


def ensure_demo_payers(owner):
    """Create the demo payers that do not exist yet; their provisioning runs on the worker."""
    created = []
    for slug, name in DEMO_PAYERS:
        if Tenant.objects.filter(slug=slug).exists():
            tenant = Tenant.objects.get(slug=slug)
            Membership.objects.get_or_create(tenant=tenant, user=owner, defaults={"role": Membership.Role.OWNER})
            continue
        with transaction.atomic():
            tenant, job = provisioning.create_payer(name=name, slug=slug, owner=owner)
            provisioning.enqueue(job)
        created.append(tenant)
    # Payers created before the demo pairing existed get it now (payers still being created get
    # it from their provisioning step).
    from sandbox.payer2payer.demo import link_demo_payers

    link_demo_payers()
    return created

import factory
from django.contrib.auth import get_user_model

from tenants.models import Membership, Tenant


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password("correct horse battery staple")


class TenantFactory(factory.django.DjangoModelFactory):
    """A ready payer (provisioning is tested on its own)."""

    class Meta:
        model = Tenant

    slug = factory.Sequence(lambda n: f"payer-{n}")
    name = factory.Sequence(lambda n: f"Payer {n}")
    status = Tenant.Status.READY


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.OWNER

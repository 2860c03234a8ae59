from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from tenants.models import TenantQuerySet


class ExportJobQuerySet(TenantQuerySet):
    def expired(self, now=None):
        return self.filter(expires_at__lte=now or timezone.now())

    def stale(self, now=None):
        """Jobs whose worker stopped reporting (killed) or that no worker ever picked up."""
        cutoff = (now or timezone.now()) - timedelta(seconds=settings.EXPORT_STALE_SECONDS)
        return self.filter(
            Q(status="running", heartbeat_at__lt=cutoff) | Q(status="queued", created_at__lt=cutoff),
            expires_at__gt=now or timezone.now(),
        )

    def claimable(self, now=None):
        """What a worker may claim: queued, or running with a stale heartbeat (a dead worker's)."""
        cutoff = (now or timezone.now()) - timedelta(seconds=settings.EXPORT_STALE_SECONDS)
        return self.filter(Q(status="queued") | Q(status="running", heartbeat_at__lt=cutoff))

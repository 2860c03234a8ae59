from celery import shared_task

from sandbox.fhirstore.search import prune_snapshots


@shared_task
def prune_search_snapshots_task():
    """Periodic: delete expired paging snapshots of sorted searches (search.prune_snapshots)."""
    return {"deleted": prune_snapshots()}

"""
The synthetic payer generator (issue 4): a pure, deterministic stream of FHIR R4 resources as dicts.

Same arguments, same bytes: every random choice comes from random.Random instances seeded with strings
derived from the seed, and every date from the reference date. Nothing reads the clock, the global
random state or the database.
"""

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import attribution, clinical, designed, formulary, members, payer, providers
from .builders import seeded_random
from .identifiers import DEFAULT_IDENTIFIER_BASE

DEFAULT_REFERENCE_DATE = dt.date(2026, 1, 1)
MIN_MEMBERS = members.DESIGNED_COUNT
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Batch:
    """
    One step of generation: the resources of one phase or of one member.

    phase is "payer", "formulary", "providers", "members" (one batch per member) or "attribution"
    (one batch per ATR Group). members_done counts members whose resources have been yielded so far.
    """

    phase: str
    members_done: int
    members_total: int
    resources: tuple[dict, ...]


def build_context(
    *,
    slug: str,
    name: str,
    members: int,
    seed,
    reference_date: dt.date = DEFAULT_REFERENCE_DATE,
    identifier_base: str = DEFAULT_IDENTIFIER_BASE,
) -> payer.PayerContext:
    """The fixed-size context every member is generated from."""
    if not _SLUG.match(slug):
        raise ValueError("slug must be lowercase letters, digits and single hyphens")
    if members < MIN_MEMBERS:
        raise ValueError(f"a payer needs at least {MIN_MEMBERS} members (the designed test members)")
    pool = providers.build_pool(seed, members)
    return payer.PayerContext(
        payer=payer.build_payer(slug=slug, name=name, seed=seed, identifier_base=identifier_base),
        pool=pool,
        seed=seed,
        reference_date=reference_date,
        members_total=members,
        attribution_offset=seeded_random(seed, "attribution").randrange(len(pool.orgs)),
    )


def member_batch(ctx: payer.PayerContext, index: int) -> tuple[dict, ...]:
    """All resources of member index: Patient, subscriber, coverages, then history in date order."""
    member = members.build_member(ctx, index)
    resources = [members.patient_resource(ctx, member)]
    # Twins share one subscriber: only the member it was created for writes it.
    if member.subscriber and member.subscriber.id == f"rp-{index + 1:06d}":
        resources.append(members.related_person_resource(ctx, member))
    if member.prior_payer:
        resources.append(members.prior_coverage_resource(ctx, member))
    resources.append(members.coverage_resource(ctx, member))
    resources.extend(clinical.MemberHistory(ctx, member).build())
    return tuple(resources)


def iter_batches(
    *,
    slug: str,
    name: str,
    members: int,
    seed,
    reference_date: dt.date = DEFAULT_REFERENCE_DATE,
    identifier_base: str = DEFAULT_IDENTIFIER_BASE,
) -> Iterator[Batch]:
    """
    Generate a payer as batches: the shared resources first, then one batch per member, then the
    attribution lists. Only one member's resources exist at a time, so memory stays flat.
    """
    ctx = build_context(
        slug=slug, name=name, members=members, seed=seed, reference_date=reference_date, identifier_base=identifier_base
    )
    stamp = ctx.last_updated
    yield Batch("payer", 0, members, tuple(payer.payer_resources(ctx.payer, stamp)))
    yield Batch("formulary", 0, members, tuple(formulary.formulary_resources(ctx.payer, reference_date, seed, stamp)))
    yield Batch("providers", 0, members, tuple(providers.provider_resources(ctx.pool, stamp)))
    for index in range(members):
        yield Batch("members", index + 1, members, member_batch(ctx, index))
    for position in range(len(ctx.pool.orgs)):
        yield Batch("attribution", members, members, (attribution.attribution_group(ctx, position),))


def generate_payer(
    *,
    slug: str,
    name: str,
    members: int,
    seed,
    reference_date: dt.date = DEFAULT_REFERENCE_DATE,
    identifier_base: str = DEFAULT_IDENTIFIER_BASE,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[dict]:
    """
    Yield every FHIR R4 resource of a synthetic payer, as dicts, in an order where each resource's
    references point at resources already yielded (except the Provenance targets, which precede it too).

    progress(members_done, members_total) is called after each member's resources have been yielded,
    and once more after the attribution lists.
    """
    for batch in iter_batches(
        slug=slug, name=name, members=members, seed=seed, reference_date=reference_date, identifier_base=identifier_base
    ):
        yield from batch.resources
        if progress is not None and batch.phase == "members":
            progress(batch.members_done, batch.members_total)
    if progress is not None:
        progress(members, members)


def designed_members(
    *,
    slug: str,
    name: str,
    seed,
    members: int = MIN_MEMBERS,
    reference_date: dt.date = DEFAULT_REFERENCE_DATE,
    identifier_base: str = DEFAULT_IDENTIFIER_BASE,
) -> list[dict]:
    """
    The designed test members of a payer generated with the same arguments: for each, a key, title,
    description, the expected $member-match outcome, the matching Patient references and a ready-made
    HRex member-match-in Parameters.
    """
    ctx = build_context(
        slug=slug, name=name, members=members, seed=seed, reference_date=reference_date, identifier_base=identifier_base
    )
    return designed.designed_members_for(ctx)

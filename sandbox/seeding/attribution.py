"""
Member attribution lists: one Da Vinci ATR Group (atr-group, ATR STU2) per provider organization, with
the attributed provider, coverage reference, attribution period, change type and list status.

Members are attributed round-robin from an offset drawn from the seed, so the members of one list are
enumerable by index and a list is built from member skeletons without keeping other members around.
"""

import datetime as dt

from .builders import ATR, concept, meta, period, ref, seeded_random
from .identifiers import IDENTIFIER_TYPE_SYSTEM, NPI_SYSTEM, TIN_SYSTEM
from .members import build_member
from .payer import PAYER_ORG_ID, PayerContext

LIST_STATUSES = ("open", "draft", "final")


def attributed_indices(ctx: PayerContext, org_position: int):
    """Indices of the members whose attributed practice is the org at org_position."""
    count = len(ctx.pool.orgs)
    first = (org_position - ctx.attribution_offset) % count
    return range(first, ctx.members_total, count)


def attribution_group(ctx: PayerContext, org_position: int) -> dict:
    """The ATR Group of one provider organization for the contract year of the reference date."""
    org = ctx.pool.orgs[org_position]
    year = ctx.reference_date.year
    contract_start, contract_end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    entries = []
    active = 0
    for index in attributed_indices(ctx, org_position):
        member = build_member(ctx, index)
        if member.coverage_end is not None and member.coverage_end < dt.date(year - 1, 1, 1):
            continue
        rng = seeded_random(ctx.seed, "attribution", index)
        dropped = member.coverage_end is not None
        if dropped:
            change = "dropped"
        elif member.coverage_start >= dt.date(year - 1, 1, 1):
            change = "new"
        else:
            change = "changed" if rng.random() < 0.1 else "nochange"
        provider = rng.choice(
            (
                ref("PractitionerRole", member.pcp.role_id),
                ref("Practitioner", member.pcp.id),
                ref("Organization", org.id),
            )
        )
        entries.append(
            {
                "extension": [
                    {"url": ATR + "ext-changeType", "valueCode": change},
                    {"url": ATR + "ext-coverageReference", "valueReference": ref("Coverage", member.coverage_id)},
                    {"url": ATR + "ext-attributedProvider", "valueReference": provider},
                ],
                "entity": ref("Patient", member.patient_id, member.display_name),
                "period": period(
                    max(member.coverage_start, dt.date(year - 1, 1, 1)),
                    member.coverage_end if dropped else contract_end,
                ),
                "inactive": dropped,
            }
        )
        active += not dropped
    group = {
        "resourceType": "Group",
        "id": f"atr-{org.id}",
        "meta": meta([ATR + "atr-group"], ctx.last_updated),
        "extension": [
            {"url": ATR + "ext-contractValidityPeriod", "valuePeriod": period(contract_start, contract_end)},
            {"url": ATR + "ext-attributionListStatus", "valueCode": LIST_STATUSES[org_position % len(LIST_STATUSES)]},
        ],
        "identifier": [
            {
                "use": "official",
                "type": concept(IDENTIFIER_TYPE_SYSTEM, "NPI", "National provider identifier"),
                "system": NPI_SYSTEM,
                "value": org.npi,
            },
            {
                "use": "official",
                "type": concept(IDENTIFIER_TYPE_SYSTEM, "TAX", "Tax ID number"),
                "system": TIN_SYSTEM,
                "value": org.tin,
            },
            {"use": "official", "system": ctx.payer.contract_system, "value": f"VBC-{year}-{org.id.upper()}"},
        ],
        "active": True,
        "type": "person",
        "actual": True,
        "name": f"{org.name} attribution list {year}",
        "managingEntity": ref("Organization", PAYER_ORG_ID, ctx.payer.name),
        "quantity": active,
    }
    if entries:
        group["member"] = entries
    return group

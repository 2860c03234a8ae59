import json

from django import template

from sandbox.seeding import generator, populate

register = template.Library()


@register.inclusion_tag("seeding/designed_members.html")
def designed_members(tenant):
    """The designed test members of a payer with their ready-made $member-match requests."""
    _members, seed = populate.seed_of(tenant)
    designed = generator.designed_members(slug=tenant.slug, name=tenant.name, seed=seed)
    for member in designed:
        member["request_json"] = json.dumps(member["request"], indent=2)
    return {
        "tenant": tenant,
        "designed": designed,
        "member_match_url": f"{tenant.endpoints()['fhir_base_url']}/Patient/$member-match",
    }

"""Attribute release for the test services (a MAMA_CAS_SERVICES callback)."""


def release(user, service):
    """The attributes a login releases: single values and one multi-valued attribute."""
    return {
        "email": user.email,
        "displayName": user.get_full_name(),
        "groups": sorted(g.name for g in user.groups.all()),
    }

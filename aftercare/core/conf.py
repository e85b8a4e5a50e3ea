from django.conf import settings


def rule(name: str) -> int:
    """A numeric business default from settings.AFTERCARE (see config/settings.py)."""
    value = settings.AFTERCARE[name]
    assert isinstance(value, int), f"AFTERCARE[{name!r}] must be an integer"
    return value

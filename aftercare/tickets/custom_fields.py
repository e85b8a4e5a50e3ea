"""Validation of the custom fields an admin declares per ticket kind."""

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _

from aftercare.core.errors import ValidationFailed

from .choices import CustomFieldType
from .models import CustomFieldDefinition


def definitions_for(kind: str) -> list[CustomFieldDefinition]:
    return list(
        CustomFieldDefinition.objects.filter(is_active=True, kind__in=[kind, ""]).order_by(
            "position", "key"
        )
    )


def _coerce(definition: CustomFieldDefinition, value: Any) -> Any:
    kind = definition.field_type
    if kind == CustomFieldType.TEXT and isinstance(value, str) and len(value) <= 1000:
        return value
    if (
        kind == CustomFieldType.NUMBER
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        return value
    if kind == CustomFieldType.BOOLEAN and isinstance(value, bool):
        return value
    if kind == CustomFieldType.DATE and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    if kind == CustomFieldType.CHOICE and value in definition.choices:
        return value
    raise ValueError


def validate_custom_fields(
    kind: str, values: dict[str, Any], *, is_staff: bool, check_required: bool
) -> dict[str, Any]:
    """Return the cleaned values, or raise ValidationFailed listing every bad field."""
    if not isinstance(values, dict):
        raise ValidationFailed(code="custom_fields_invalid")
    definitions = {d.key: d for d in definitions_for(kind)}
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            errors[key] = _("该工单类型没有此字段")
        elif definition.agent_only and not is_staff:
            errors[key] = _("此字段只能由服务人员填写")
        elif value is None:
            continue
        else:
            try:
                cleaned[key] = _coerce(definition, value)
            except ValueError:
                errors[key] = _("值不符合字段类型“%(type)s”") % {
                    "type": CustomFieldType(definition.field_type).label
                }
    if check_required:
        for key, definition in definitions.items():
            if (
                definition.required
                and key not in cleaned
                and (is_staff or not definition.agent_only)
            ):
                errors[key] = _("必填")
    if errors:
        raise ValidationFailed(_("自定义字段有误"), code="custom_fields_invalid", details=errors)
    return cleaned

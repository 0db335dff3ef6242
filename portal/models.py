"""Imports every model so the metadata (and Alembic) sees the whole schema."""

from portal.audit import AuditEntry  # noqa: F401
from portal.auth.models import LoginThrottle, User  # noqa: F401
from portal.registry.imports import ImportJob  # noqa: F401
from portal.registry.models import (  # noqa: F401
    CorrectionRequest,
    Member,
    MemberEvent,
    Organisation,
)

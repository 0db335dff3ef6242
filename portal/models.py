"""Imports every model so the metadata (and Alembic) sees the whole schema."""

from portal.aid.models import AidPetition, AidRegulation, AidRegulationBand, PetitionAttachment  # noqa: F401
from portal.audit import AuditEntry  # noqa: F401
from portal.auth.models import LoginThrottle, User  # noqa: F401
from portal.cabinet.models import FamilyMember, MemberAccount, MemberToken  # noqa: F401
from portal.cards.models import Card, CardRequest, CardRequestItem, Counter, ProductionBatch  # noqa: F401
from portal.consent.models import BatchPrint, BonusExport, ConsentRecord, DataDestruction  # noqa: F401
from portal.flows import WorkflowHistory  # noqa: F401
from portal.jobs.models import JobRun  # noqa: F401
from portal.mail.models import OutboxMessage  # noqa: F401
from portal.news.models import Mailing, NewsAudience, NewsImage, NewsItem, Unsubscribe  # noqa: F401
from portal.registry.imports import ImportJob  # noqa: F401
from portal.registry.models import (  # noqa: F401
    CorrectionRequest,
    Member,
    MemberCorrection,
    MemberEvent,
    Organisation,
    OrgCountChange,
)
from portal.stats import counts as _stat_counts  # noqa: F401,E402  (the listener keeping member counts current)
from portal.stats.models import StatCount, StatSnapshot, StatSnapshotOrg, StatSnapshotValue  # noqa: F401,E402
from search_index.models import SearchDocument, SearchQueue  # noqa: F401

"""The Alembic migrations build exactly the schema the models declare (no change without a migration)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from portal.extensions import db


def test_models_match_migrations(app):
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False, "render_as_batch": True})
        diff = compare_metadata(ctx, db.metadata)
    assert diff == []

"""statistics: age bands kept in the per-organisation counters (exact as of stat_meta.ages_as_of); the history of
members' counted properties for past-date reports; indexes for the birthdays of a day and the movements of a period

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 17:50:00

"""
from datetime import date

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = "0013"
branch_labels = None
depends_on = None

DEFAULT_AGE_BANDS = (35, 50, 60)


def _years_before(d, years):
    try:
        return d.replace(year=d.year - years)
    except ValueError:
        return d.replace(year=d.year - years, day=28)


def upgrade():
    op.create_table(
        'stat_meta',
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('value', sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_table(
        'member_stat_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('on_date', sa.Date(), nullable=False),
        sa.Column('attr', sa.String(length=24), nullable=False),
        sa.Column('old_value', sa.String(length=24), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_member_stat_changes_date', 'member_stat_changes', ['on_date', 'member_id'], unique=False)
    op.create_index('ix_members_birth_date', 'members', ['birth_date'], unique=False)
    op.create_index('ix_member_events_to_org', 'member_events', ['to_org_id', 'on_date', 'kind'], unique=False)
    op.create_index('ix_member_events_from_org', 'member_events', ['from_org_id', 'on_date', 'kind'], unique=False,
                    postgresql_where=sa.text('from_org_id IS NOT NULL'), sqlite_where=sa.text('from_org_id IS NOT NULL'))
    # The existing members' age bands as of today, with the bands the application is configured with.
    try:
        from flask import current_app
        bands = tuple(current_app.config.get("STATS_AGE_BANDS", DEFAULT_AGE_BANDS))
    except RuntimeError:
        bands = DEFAULT_AGE_BANDS
    on = date.today()
    whens = " ".join(f"WHEN birth_date > '{_years_before(on, b).isoformat()}' THEN 'age:{i}'"
                     for i, b in enumerate(bands))
    op.execute(f"""
        INSERT INTO stat_counts (org_id, key, n, changed_at)
        SELECT org_id, CASE {whens} ELSE 'age:{len(bands)}' END AS band, count(*), CURRENT_TIMESTAMP
        FROM members WHERE status = 'active' GROUP BY org_id, band
    """)
    # The history of counted properties starts now: a report for an earlier date says so.
    op.execute(f"INSERT INTO stat_meta (key, value) VALUES ('ages_as_of', '{on.isoformat()}'), "
               f"('age_bands', '{','.join(str(b) for b in bands)}'), ('history_since', '{on.isoformat()}')")


def downgrade():
    op.execute("DELETE FROM stat_counts WHERE key LIKE 'age:%'")
    op.drop_index('ix_member_events_from_org', table_name='member_events')
    op.drop_index('ix_member_events_to_org', table_name='member_events')
    op.drop_index('ix_members_birth_date', table_name='members')
    op.drop_table('stat_meta')
    op.drop_index('ix_member_stat_changes_date', table_name='member_stat_changes')
    op.drop_table('member_stat_changes')

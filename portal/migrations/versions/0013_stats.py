"""statistics: per-organisation member counters kept current, frozen report snapshots

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 15:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'stat_counts',
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=48), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], ),
        sa.PrimaryKeyConstraint('org_id', 'key'),
    )
    op.create_table(
        'stat_snapshots',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('on_date', sa.Date(), nullable=False),
        sa.Column('period_start', sa.Date(), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_by_login', sa.String(length=80), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], ),
        sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_stat_snapshots_org', 'stat_snapshots', ['org_id', 'id'], unique=False)
    op.create_table(
        'stat_snapshot_orgs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('snapshot_id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=True),
        sa.Column('level', sa.String(length=24), nullable=False),
        sa.Column('path', sa.String(length=255), nullable=False),
        sa.Column('name', sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(['snapshot_id'], ['stat_snapshots.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_stat_snapshot_orgs_snapshot', 'stat_snapshot_orgs', ['snapshot_id', 'org_id'], unique=False)
    op.create_table(
        'stat_snapshot_values',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('snapshot_id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=48), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['snapshot_id'], ['stat_snapshots.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_stat_snapshot_values_snapshot', 'stat_snapshot_values', ['snapshot_id', 'org_id'],
                    unique=False)
    # Existing members are counted once; from here on the registry keeps the counters current.
    op.execute("""
        INSERT INTO stat_counts (org_id, key, n)
        SELECT org_id, 'members', count(*) FROM members WHERE status = 'active' GROUP BY org_id
        UNION ALL SELECT org_id, 'category:' || category, count(*) FROM members WHERE status = 'active'
                  GROUP BY org_id, category
        UNION ALL SELECT org_id, 'gender:' || gender, count(*) FROM members WHERE status = 'active'
                  GROUP BY org_id, gender
        UNION ALL SELECT org_id, 'education:' || education, count(*) FROM members WHERE status = 'active'
                  GROUP BY org_id, education
        UNION ALL SELECT org_id, 'dues:' || dues_form, count(*) FROM members WHERE status = 'active'
                  GROUP BY org_id, dues_form
        UNION ALL SELECT org_id, 'consent:' || consent_status, count(*) FROM members WHERE status = 'active'
                  GROUP BY org_id, consent_status
        UNION ALL SELECT org_id, 'card:' || card_status, count(*) FROM members WHERE status = 'active'
                  GROUP BY org_id, card_status
    """)


def downgrade():
    op.drop_index('ix_stat_snapshot_values_snapshot', table_name='stat_snapshot_values')
    op.drop_table('stat_snapshot_values')
    op.drop_index('ix_stat_snapshot_orgs_snapshot', table_name='stat_snapshot_orgs')
    op.drop_table('stat_snapshot_orgs')
    op.drop_index('ix_stat_snapshots_org', table_name='stat_snapshots')
    op.drop_table('stat_snapshots')
    op.drop_table('stat_counts')

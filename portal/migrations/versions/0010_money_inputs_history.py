"""money inputs: corrections of joining dates, history of staff counts, the inputs a petition was computed from

The filing chair also keeps the two inputs of an aid amount (the joining date → tenure, the staff count → level).
A joining date now changes only through a recorded correction (old, new, reason, who, when); every change of a
staff or student count is kept (old → new, who, when); a petition stores the inputs it was computed from and when
and by whom each was last changed, so reviewers see a change made shortly before filing.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-04 15:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'member_corrections',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('field', sa.String(length=40), nullable=False),
        sa.Column('old_value', sa.Date(), nullable=True),
        sa.Column('new_value', sa.Date(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('actor_login', sa.String(length=80), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_member_corrections_actor_id_users')),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_corrections_member_id_members')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_member_corrections')),
    )
    op.create_index('ix_member_corrections_member', 'member_corrections', ['member_id', 'id'], unique=False)
    op.create_table(
        'org_count_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('field', sa.String(length=40), nullable=False),
        sa.Column('old_value', sa.Integer(), nullable=True),
        sa.Column('new_value', sa.Integer(), nullable=True),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('actor_login', sa.String(length=80), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_org_count_changes_actor_id_users')),
        sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_org_count_changes_org_id_organisations')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_org_count_changes')),
    )
    op.create_index('ix_org_count_changes_org', 'org_count_changes', ['org_id', 'field', 'id'], unique=False)
    with op.batch_alter_table('aid_petitions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('input_tenure_start', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('input_tenure_changed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('input_tenure_changed_by', sa.String(length=80), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('input_tenure_changed_from', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('input_staff_count', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('input_members_count', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('input_staff_changed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('input_staff_changed_by', sa.String(length=80), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('input_staff_changed_from', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('aid_petitions', schema=None) as batch_op:
        for name in ('input_staff_changed_from', 'input_staff_changed_by', 'input_staff_changed_at',
                     'input_members_count', 'input_staff_count', 'input_tenure_changed_from',
                     'input_tenure_changed_by', 'input_tenure_changed_at', 'input_tenure_start'):
            batch_op.drop_column(name)
    op.drop_index('ix_org_count_changes_org', table_name='org_count_changes')
    op.drop_table('org_count_changes')
    op.drop_index('ix_member_corrections_member', table_name='member_corrections')
    op.drop_table('member_corrections')

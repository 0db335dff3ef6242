"""consent: members left out of card processing, destruction records and stripped transfer files; mail retries

- card_request_items: why a member was left out when the request was processed (consent withdrawn…), and when;
- bonus_exports / production_batches: rows stripped from the kept files after withdrawals, and when;
  bonus_exports.purged_at: the files deleted at the end of their retention;
- data_destructions: one row per member whose data was destroyed (152-FZ art. 21);
- outbox: a version advanced by each resend, when retries started (queued or resent), when the message failed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 15:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('card_request_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('excluded_reason', sa.String(length=24), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('excluded_on', sa.Date(), nullable=True))
    with op.batch_alter_table('bonus_exports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rows_stripped', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('stripped_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('production_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rows_stripped', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('stripped_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('retry_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('data_destructions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('withdrawal_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('categories', sa.Text(), nullable=False),
    sa.Column('files', sa.Text(), nullable=False),
    sa.Column('rows_removed', sa.Integer(), nullable=False),
    sa.Column('job', sa.String(length=60), nullable=False),
    sa.Column('destroyed_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_data_destructions_member_id_members')),
    sa.ForeignKeyConstraint(['withdrawal_id'], ['consent_records.id'],
                            name=op.f('fk_data_destructions_withdrawal_id_consent_records')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_destructions')),
    sa.UniqueConstraint('withdrawal_id', name=op.f('uq_data_destructions_withdrawal_id'))
    )
    with op.batch_alter_table('data_destructions', schema=None) as batch_op:
        batch_op.create_index('ix_data_destructions_member', ['member_id'], unique=False)


def downgrade():
    with op.batch_alter_table('data_destructions', schema=None) as batch_op:
        batch_op.drop_index('ix_data_destructions_member')
    op.drop_table('data_destructions')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('failed_at')
        batch_op.drop_column('retry_since')
        batch_op.drop_column('version')
    with op.batch_alter_table('production_batches', schema=None) as batch_op:
        batch_op.drop_column('stripped_at')
        batch_op.drop_column('rows_stripped')
    with op.batch_alter_table('bonus_exports', schema=None) as batch_op:
        batch_op.drop_column('purged_at')
        batch_op.drop_column('stripped_at')
        batch_op.drop_column('rows_stripped')
    with op.batch_alter_table('card_request_items', schema=None) as batch_op:
        batch_op.drop_column('excluded_on')
        batch_op.drop_column('excluded_reason')

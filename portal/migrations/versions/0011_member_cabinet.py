"""member cabinet: member accounts (separate from staff users), their hashed tokens, family members

Login throttling of members reuses login_throttle with keys of their own ("member-card:…", "member-addr:…").

Revision ID: 0011
Revises: 0005
Create Date: 2026-12-04 14:38:57.454454

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('member_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=False),
    sa.Column('email_confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=False),
    sa.Column('phone_confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('rules_accepted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('session_version', sa.Integer(), nullable=False),
    sa.Column('verify_token', sa.String(length=64), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_reason', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_accounts_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_accounts')),
    sa.UniqueConstraint('member_id', name=op.f('uq_member_accounts_member_id')),
    sa.UniqueConstraint('verify_token', name=op.f('uq_member_accounts_verify_token'))
    )
    op.create_table('member_family',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('full_name', sa.String(length=300), nullable=False),
    sa.Column('relation', sa.String(length=40), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['member_accounts.id'], name=op.f('fk_member_family_account_id_member_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_family'))
    )
    with op.batch_alter_table('member_family', schema=None) as batch_op:
        batch_op.create_index('ix_member_family_account', ['account_id'], unique=False)

    op.create_table('member_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['member_accounts.id'], name=op.f('fk_member_tokens_account_id_member_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_member_tokens_token_hash'))
    )
    with op.batch_alter_table('member_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_member_tokens_account', ['account_id', 'kind'], unique=False)



def downgrade():
    with op.batch_alter_table('member_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_member_tokens_account')

    op.drop_table('member_tokens')
    with op.batch_alter_table('member_family', schema=None) as batch_op:
        batch_op.drop_index('ix_member_family_account')

    op.drop_table('member_family')
    op.drop_table('member_accounts')

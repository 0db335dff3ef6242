"""members: the unique index on card_number holds only the numbers given

A member has no card number until the card is ordered, and every bulk import writes thousands of such members:
a full unique index kept one btree entry per NULL for nothing. The partial index enforces the same uniqueness
(NULLs never clashed) and still serves `card_number = …`, whose equality implies the predicate.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_index('ix_members_card_number')
        batch_op.create_index('ix_members_card_number', ['card_number'], unique=True,
                              postgresql_where=sa.text('card_number IS NOT NULL'),
                              sqlite_where=sa.text('card_number IS NOT NULL'))


def downgrade():
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_index('ix_members_card_number')
        batch_op.create_index('ix_members_card_number', ['card_number'], unique=True)

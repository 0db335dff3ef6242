"""news: a mailing's letters are outbox rows that reference it (unique per mailing and member, rendered when sent),
replacing the delivery rows; the news content version that public page caches are keyed on

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 18:00:00

Letters already written by the old path carry «<mailing-M-N-…@…>» Message-IDs: their mailing and member are read
back from it, so a mailing half-sent at the upgrade is finished without a second letter to anyone.
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = "0014"
branch_labels = None
depends_on = None


def _backfill():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.execute(sa.text(
            "UPDATE outbox SET mailing_id = split_part(substr(message_id, 10), '-', 1)::int, "
            "member_id = split_part(substr(message_id, 10), '-', 2)::int "
            r"WHERE message_id ~ '^<mailing-\d+-\d+-'"))
        return
    rows = bind.execute(sa.text("SELECT id, message_id FROM outbox WHERE message_id LIKE '<mailing-%'")).all()
    for row_id, message_id in rows:
        parts = message_id[len("<mailing-"):].split("-")
        if len(parts) >= 3 and parts[0].isdigit() and parts[1].isdigit():
            bind.execute(sa.text("UPDATE outbox SET mailing_id = :m, member_id = :n WHERE id = :i"),
                         {"m": int(parts[0]), "n": int(parts[1]), "i": row_id})


def upgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mailing_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('member_id', sa.Integer(), nullable=True))
    _backfill()
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_outbox_mailing_member', ['mailing_id', 'member_id'])

    with op.batch_alter_table('mailing_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_mailing_deliveries_walk')
    op.drop_table('mailing_deliveries')

    op.create_table('news_content_version',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_news_content_version'))
    )
    op.execute("INSERT INTO news_content_version (id, version) VALUES (1, 0)")


def downgrade():
    op.drop_table('news_content_version')
    # The delivery rows come back empty: a mailing still «sending» would be re-queued from the start.
    op.create_table('mailing_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mailing_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('letter_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['mailing_id'], ['mailings.id'], name=op.f('fk_mailing_deliveries_mailing_id_mailings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_mailing_deliveries_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mailing_deliveries')),
    sa.UniqueConstraint('mailing_id', 'member_id', name='uq_mailing_deliveries_member')
    )
    with op.batch_alter_table('mailing_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_mailing_deliveries_walk', ['mailing_id', 'id'], unique=False)
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint('uq_outbox_mailing_member', type_='unique')
        batch_op.drop_column('member_id')
        batch_op.drop_column('mailing_id')

"""cards and card requests: the «получены» step (the regional office recorded that the shipment arrived)

A card can be marked ВЫДАН only after the regional office has recorded that its shipment arrived (issue 9 item 10):
the card, the request and the member's card status gain the state 'received', and the request keeps the date.
The state columns are VARCHAR with a CHECK (portable enums), so the CHECKs are rebuilt with the new value.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 15:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = "0007"
branch_labels = None
depends_on = None

CARD_STATES = ['ordered', 'produced', 'shipped', 'issued', 'lost', 'blocked', 'reissued']
REQUEST_STATES = ['draft', 'submitted', 'processed', 'shipped', 'issued', 'cancelled']
CARD_STATUSES = ['not_ordered', 'ordered', 'produced', 'shipped', 'issued', 'lost', 'blocked', 'reissued']


def _in(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _with_received(values: list[str]) -> list[str]:
    i = values.index('shipped') + 1
    return [*values[:i], 'received', *values[i:]]


def _recheck(table: str, name: str, column: str, values: list[str]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(f'ck_{table}_{name}'), type_='check')
        batch_op.create_check_constraint(name, _in(column, values))


def upgrade():
    _recheck('cards', 'card_state', 'state', _with_received(CARD_STATES))
    _recheck('card_requests', 'request_state', 'state', _with_received(REQUEST_STATES))
    _recheck('members', 'card_status', 'card_status', _with_received(CARD_STATUSES))
    with op.batch_alter_table('card_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('received_on', sa.Date(), nullable=True))


def downgrade():
    # Back to «отправлен»: the arrival was recorded, the old schema only knows the shipment.
    op.execute("UPDATE cards SET state = 'shipped' WHERE state = 'received'")
    op.execute("UPDATE card_requests SET state = 'shipped' WHERE state = 'received'")
    op.execute("UPDATE members SET card_status = 'shipped' WHERE card_status = 'received'")
    with op.batch_alter_table('card_requests', schema=None) as batch_op:
        batch_op.drop_column('received_on')
    _recheck('members', 'card_status', 'card_status', CARD_STATUSES)
    _recheck('card_requests', 'request_state', 'state', REQUEST_STATES)
    _recheck('cards', 'card_state', 'state', CARD_STATES)

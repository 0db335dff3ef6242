"""documents fit to sign: the employer apart from the union organisation, the consent's identity document,
each region's own aid programme

- organisations.institution_name / institution_inn: the employer (school, kindergarten, university) a primary is
  formed at — the members' «место работы (учёбы)». For existing primaries the name is derived from the union
  organisation's name («Первичная профсоюзная организация МБОУ …» → «МБОУ …»), and the INN entered so far under
  the label «ИНН учреждения» moves to institution_inn: `inn` is now the union organisation's own (the operator's
  on the consent form), to be filled in the passport.
- members.id_doc_*: the identity document 152-FZ art. 9 part 4 asks the consent to name (optional on the card,
  required to print the consent).
- aid_regulations.programme_name: the region's union voucher programme (seed 004 п. 3.1). Versions written so far
  were seed 004's (the Saratov organisation's), so they keep «ООО «Саратовкурорт»».

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 15:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = "0006"
branch_labels = None
depends_on = None

# The prefixes a primary's name starts with before the institution's name (longest first).
PREFIXES = ("первичная профсоюзная организация работников", "первичная профсоюзная организация", "ппо")


def derive_institution(name: str) -> str:
    """«Первичная профсоюзная организация МБОУ «СОШ № 5»» → «МБОУ «СОШ № 5»»; "" when the name does not say (a
    students' organisation, or a name without the usual prefix) — the chair fills it in the passport."""
    clean = " ".join((name or "").split())
    low = clean.lower()
    for prefix in PREFIXES:
        if low.startswith(prefix + " "):
            rest = clean[len(prefix) + 1:].strip()
            if rest.lower().startswith(("студентов", "обучающихся", "аспирантов")):
                return ""
            return rest
    return ""


def upgrade():
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('institution_name', sa.String(length=500), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('institution_inn', sa.String(length=12), nullable=False, server_default=''))
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('id_doc_type', sa.String(length=100), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('id_doc_number', sa.String(length=40), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('id_doc_issued_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('id_doc_issuer', sa.String(length=300), nullable=False, server_default=''))
    with op.batch_alter_table('aid_regulations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('programme_name', sa.String(length=300), nullable=False, server_default=''))

    conn = op.get_bind()
    orgs = sa.table('organisations', sa.column('id', sa.Integer), sa.column('level', sa.String),
                    sa.column('name', sa.String), sa.column('inn', sa.String),
                    sa.column('institution_name', sa.String), sa.column('institution_inn', sa.String))
    rows = conn.execute(sa.select(orgs.c.id, orgs.c.name, orgs.c.inn).where(orgs.c.level == 'primary')).all()
    for org_id, name, inn in rows:
        conn.execute(orgs.update().where(orgs.c.id == org_id).values(
            institution_name=derive_institution(name), institution_inn=inn or '', inn=''))
    regs = sa.table('aid_regulations', sa.column('programme_name', sa.String))
    conn.execute(regs.update().values(programme_name='ООО «Саратовкурорт»'))


def downgrade():
    conn = op.get_bind()
    orgs = sa.table('organisations', sa.column('level', sa.String), sa.column('inn', sa.String),
                    sa.column('institution_inn', sa.String))
    conn.execute(orgs.update().where(orgs.c.level == 'primary', orgs.c.inn == '')
                 .values(inn=orgs.c.institution_inn))
    with op.batch_alter_table('aid_regulations', schema=None) as batch_op:
        batch_op.drop_column('programme_name')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('id_doc_issuer')
        batch_op.drop_column('id_doc_issued_on')
        batch_op.drop_column('id_doc_number')
        batch_op.drop_column('id_doc_type')
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_column('institution_inn')
        batch_op.drop_column('institution_name')

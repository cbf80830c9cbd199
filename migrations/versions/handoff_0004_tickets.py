"""tickets: the call-back tasks become the one ticket table (numbers, categories, status history,
owner, resolution); billing's fault_tickets rows move into it; satisfaction surveys can belong to a
ticket; canned replies per desk become a table

Revision ID: handoff_0004_tickets
Revises: handoff_0003
Create Date: 2026-12-04
"""

import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "handoff_0004_tickets"
down_revision = "handoff_0003"
branch_labels = None
depends_on = "billing_0004"  # fault_tickets belongs to the billing branch

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
FAULT_PROMISE = dt.timedelta(hours=24)
CANNED = [
    "您好，我是人工客服，请问有什么可以帮您？",
    "请稍等，我帮您查一下。",
    "您别着急，慢慢说，我一直在。",
    "我给您打个电话说，方便吗？",
    "您的问题已经处理好了。",
    "还有别的问题吗？没有的话我就把您转回智能助手了。",
]
NEW_COLUMNS = [
    sa.Column("number", sa.String(20), nullable=True),
    sa.Column("category", sa.String(16), nullable=True),
    sa.Column("status", sa.String(16), nullable=True),
    sa.Column("address", sa.Text, nullable=True),
    sa.Column("attachments", sa.Text, nullable=True),
    sa.Column("time_slot", sa.String(32), nullable=True),
    sa.Column("queue", sa.String(16), nullable=True),
    sa.Column("agent_id", sa.Integer, sa.ForeignKey("ho_agents.id", name="fk_tickets_agent"), nullable=True),
    sa.Column("labels", sa.Text, nullable=True),
    sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("resolution", sa.Text, nullable=True),
]


def _aware(value):
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def upgrade() -> None:
    op.rename_table("ho_tasks", "tickets")
    with op.batch_alter_table("tickets") as table:
        for column in NEW_COLUMNS:
            table.add_column(column.copy())
    conn = op.get_bind()
    tickets = sa.table(
        "tickets",
        sa.column("id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("done_at", sa.DateTime(timezone=True)),
        sa.column("outcome", sa.String),
        sa.column("is_elder", sa.Boolean),
        sa.column("number", sa.String),
        sa.column("category", sa.String),
        sa.column("status", sa.String),
        sa.column("queue", sa.String),
        sa.column("labels", sa.Text),
        sa.column("openid", sa.String),
        sa.column("phone", sa.String),
        sa.column("reason", sa.String),
        sa.column("note", sa.Text),
        sa.column("due_at", sa.DateTime(timezone=True)),
        sa.column("attempts", sa.Integer),
        sa.column("created_by", sa.String),
    )
    for row in conn.execute(sa.select(tickets)).mappings().all():
        if row["done_at"] is not None:
            status = "closed"
        else:
            status = "in_progress" if row["outcome"] == "no_answer" else "open"
        conn.execute(
            tickets.update()
            .where(tickets.c.id == row["id"])
            .values(
                number=f"T{_aware(row['created_at']).astimezone(LOCAL_TZ):%Y%m%d}-{row['id']:04d}",
                category=row["kind"],
                status=status,
                queue="elder" if row["is_elder"] else "general",
                labels="",
            )
        )
    # billing's fault reports: their numbers (GZ…) were told to subscribers, so they keep them
    faults = sa.table(
        "fault_tickets",
        sa.column("ticket_no", sa.String),
        sa.column("phone", sa.String),
        sa.column("openid", sa.String),
        sa.column("description", sa.Text),
        sa.column("status", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    for row in conn.execute(sa.select(faults).order_by(sa.text("id"))).mappings().all():
        created = _aware(row["created_at"])
        broadband = (row["description"] or "").startswith("宽带故障")
        conn.execute(
            tickets.insert().values(
                number=row["ticket_no"],
                kind="fault",
                category="broadband" if broadband else "network",
                status="open" if row["status"] == "open" else "closed",
                openid=row["openid"] or "",
                phone=row["phone"],
                reason="fault",
                note=row["description"],
                queue="general",
                labels="",
                is_elder=False,
                due_at=created + FAULT_PROMISE,
                attempts=0,
                created_at=created,
                created_by="subscriber",
            )
        )
    op.drop_table("fault_tickets")
    with op.batch_alter_table("tickets") as table:
        table.alter_column("category", existing_type=sa.String(16), nullable=False)
        table.alter_column("status", existing_type=sa.String(16), nullable=False)
        table.alter_column("queue", existing_type=sa.String(16), nullable=False)
        table.alter_column("labels", existing_type=sa.Text, nullable=False)
        table.create_unique_constraint("uq_tickets_number", ["number"])
    op.create_index("ix_tickets_status", "tickets", ["status", "due_at"])
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("text", sa.Text, nullable=True),
    )
    op.create_index("ix_ticket_events_ticket", "ticket_events", ["ticket_id", "id"])
    events = sa.table(
        "ticket_events",
        sa.column("ticket_id", sa.Integer),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("actor", sa.String),
        sa.column("kind", sa.String),
        sa.column("status", sa.String),
        sa.column("text", sa.Text),
    )
    for row in conn.execute(sa.select(tickets)).mappings().all():
        conn.execute(
            events.insert().values(
                ticket_id=row["id"],
                at=_aware(row["created_at"]),
                actor=row["created_by"],
                kind="created",
                status=row["status"],
                text=row["note"],
            )
        )
    with op.batch_alter_table("ho_surveys") as table:
        table.alter_column("chat_id", existing_type=sa.Integer, nullable=True)
        table.add_column(
            sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id", name="fk_ho_surveys_ticket"), nullable=True)
        )
    canned = op.create_table(
        "ho_canned_replies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("queue", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )
    op.create_index("ix_ho_canned_replies_queue", "ho_canned_replies", ["queue", "position"])
    now = dt.datetime.now(dt.timezone.utc)
    op.bulk_insert(
        canned,
        [
            {"queue": queue, "position": position, "text": text, "updated_at": now, "updated_by": "system"}
            for queue in ("general", "elder")
            for position, text in enumerate(CANNED, start=1)
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_ho_canned_replies_queue", table_name="ho_canned_replies")
    op.drop_table("ho_canned_replies")
    conn = op.get_bind()
    conn.execute(sa.text("DELETE FROM ho_surveys WHERE chat_id IS NULL"))
    with op.batch_alter_table("ho_surveys") as table:
        table.drop_constraint("fk_ho_surveys_ticket", type_="foreignkey")
        table.drop_column("ticket_id")
        table.alter_column("chat_id", existing_type=sa.Integer, nullable=False)
    op.drop_index("ix_ticket_events_ticket", table_name="ticket_events")
    op.drop_table("ticket_events")
    op.create_table(
        "fault_tickets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_no", sa.String(32), nullable=False, unique=True),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("openid", sa.String(64), nullable=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    conn.execute(
        sa.text(
            "INSERT INTO fault_tickets (ticket_no, phone, openid, description, status, created_at) "
            "SELECT number, phone, openid, COALESCE(note, ''), "
            "CASE WHEN status IN ('open', 'in_progress') THEN 'open' ELSE 'closed' END, created_at "
            "FROM tickets WHERE kind = 'fault' ORDER BY id"
        )
    )
    conn.execute(sa.text("DELETE FROM tickets WHERE kind NOT IN ('callback', 'follow_up')"))
    op.drop_index("ix_tickets_status", table_name="tickets")
    with op.batch_alter_table("tickets") as table:
        table.drop_constraint("uq_tickets_number", type_="unique")
        table.drop_constraint("fk_tickets_agent", type_="foreignkey")
        for column in reversed(NEW_COLUMNS):
            table.drop_column(column.name)
    op.rename_table("tickets", "ho_tasks")

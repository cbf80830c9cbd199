"""one conversation record: `ho_chats` becomes `conversations`, whose status alone says who answers
(Rasa is no longer paused, so `bot_paused` goes); the gateway's own `gw_handoff_requests` (kept
while handoff/ was not wired) become call-back promises there, each with its call-back ticket

Revision ID: handoff_0005_conversations
Revises: handoff_0004_tickets
Create Date: 2026-12-04
"""

import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "handoff_0005_conversations"
down_revision = "handoff_0004_tickets"
branch_labels = None
depends_on = "gateway_0001"  # gw_handoff_requests belongs to the gateway branch

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
CALLBACK_PROMISE = dt.timedelta(hours=24)
OPEN_CHAT = "status IN ('waiting', 'assigned')"
GATEWAY = "gateway"  # the actor of what the gateway recorded


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _aware(value):
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _create_indexes(table: str, prefix: str, with_bot_paused: bool) -> None:
    op.create_index(f"ix_{prefix}_openid", table, ["openid"])
    op.create_index(f"ix_{prefix}_status", table, ["status"])
    op.create_index(f"ix_{prefix}_agent", table, ["agent_id", "status"])
    if with_bot_paused:
        op.create_index(f"ix_{prefix}_bot_paused", table, ["bot_paused"])
    op.create_index(
        f"uq_{prefix}_open_openid",
        table,
        ["openid"],
        unique=True,
        postgresql_where=sa.text(OPEN_CHAT),
        sqlite_where=sa.text(OPEN_CHAT),
    )


def _drop_indexes(table: str, prefix: str, with_bot_paused: bool) -> None:
    names = ["openid", "status", "agent"] + (["bot_paused"] if with_bot_paused else [])
    for name in names:
        op.drop_index(f"ix_{prefix}_{name}", table_name=table)
    op.drop_index(f"uq_{prefix}_open_openid", table_name=table)


conversations = sa.table(
    "conversations",
    sa.column("id", sa.Integer),
    sa.column("openid", sa.String),
    sa.column("status", sa.String),
    sa.column("queue", sa.String),
    sa.column("reason", sa.String),
    sa.column("summary", sa.Text),
    sa.column("is_elder", sa.Boolean),
    sa.column("created_at", _utc()),
    sa.column("callback_promised_at", _utc()),
    sa.column("closed_at", _utc()),
    sa.column("close_reason", sa.String),
)
tickets = sa.table(
    "tickets",
    sa.column("id", sa.Integer),
    sa.column("number", sa.String),
    sa.column("kind", sa.String),
    sa.column("category", sa.String),
    sa.column("status", sa.String),
    sa.column("openid", sa.String),
    sa.column("chat_id", sa.Integer),
    sa.column("reason", sa.String),
    sa.column("note", sa.Text),
    sa.column("queue", sa.String),
    sa.column("is_elder", sa.Boolean),
    sa.column("due_at", _utc()),
    sa.column("attempts", sa.Integer),
    sa.column("labels", sa.Text),
    sa.column("created_at", _utc()),
    sa.column("created_by", sa.String),
)
ticket_events = sa.table(
    "ticket_events",
    sa.column("ticket_id", sa.Integer),
    sa.column("at", _utc()),
    sa.column("actor", sa.String),
    sa.column("kind", sa.String),
    sa.column("status", sa.String),
    sa.column("text", sa.Text),
)
requests = sa.table(
    "gw_handoff_requests",
    sa.column("id", sa.Integer),
    sa.column("openid", sa.String),
    sa.column("reason", sa.String),
    sa.column("queue", sa.String),
    sa.column("summary", sa.Text),
    sa.column("status", sa.String),
    sa.column("created_at", _utc()),
)


def _rename_postgresql_names(old: str, new: str) -> None:
    """PostgreSQL names the key, the foreign key and the id sequence after the table; SQLite does not."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE {new} RENAME CONSTRAINT {old}_pkey TO {new}_pkey")
    op.execute(f"ALTER TABLE {new} RENAME CONSTRAINT {old}_agent_id_fkey TO {new}_agent_id_fkey")
    op.execute(f"ALTER SEQUENCE {old}_id_seq RENAME TO {new}_id_seq")


def upgrade() -> None:
    _drop_indexes("ho_chats", "ho_chats", with_bot_paused=True)
    op.rename_table("ho_chats", "conversations")
    _rename_postgresql_names("ho_chats", "conversations")
    # SQLite 3.35+ and PostgreSQL both drop a column in place (its index went above).
    op.execute("ALTER TABLE conversations DROP COLUMN bot_paused")
    _create_indexes("conversations", "conversations", with_bot_paused=False)
    conn = op.get_bind()
    for row in conn.execute(sa.select(requests).order_by(requests.c.id)).mappings().all():
        _request_to_promise(conn, row)
    op.drop_index("ix_gw_handoff_requests_openid", table_name="gw_handoff_requests")
    op.drop_table("gw_handoff_requests")


def _request_to_promise(conn: sa.engine.Connection, row: sa.RowMapping) -> None:
    created = _aware(row["created_at"])
    chat_id = conn.execute(
        conversations.insert()
        .values(
            openid=row["openid"],
            status="closed",
            queue=row["queue"],
            reason=row["reason"],
            summary=row["summary"],
            is_elder=False,
            created_at=created,
            callback_promised_at=created,
            closed_at=created,
            close_reason="callback",
        )
        .returning(conversations.c.id)
    ).scalar_one()
    ticket_id = conn.execute(
        tickets.insert()
        .values(
            kind="callback",
            category="callback",
            status="open" if row["status"] == "open" else "closed",
            openid=row["openid"],
            chat_id=chat_id,
            reason=row["reason"],
            note=row["summary"],
            queue=row["queue"],
            is_elder=False,
            due_at=created + CALLBACK_PROMISE,
            attempts=0,
            labels="",
            created_at=created,
            created_by=GATEWAY,
        )
        .returning(tickets.c.id)
    ).scalar_one()
    number = f"T{created.astimezone(LOCAL_TZ):%Y%m%d}-{ticket_id:04d}"
    conn.execute(tickets.update().where(tickets.c.id == ticket_id).values(number=number))
    conn.execute(
        ticket_events.insert().values(
            ticket_id=ticket_id, at=created, actor=GATEWAY, kind="created", status="open", text=row["summary"]
        )
    )


def downgrade() -> None:
    op.create_table(
        "gw_handoff_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("queue", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
    )
    op.create_index("ix_gw_handoff_requests_openid", "gw_handoff_requests", ["openid"])
    conn = op.get_bind()
    recorded = conn.execute(
        sa.select(
            tickets.c.id.label("ticket_id"),
            tickets.c.status.label("ticket_status"),
            conversations.c.id.label("chat_id"),
            conversations.c.openid,
            conversations.c.reason,
            conversations.c.queue,
            conversations.c.summary,
            conversations.c.created_at,
        )
        .select_from(tickets.join(conversations, conversations.c.id == tickets.c.chat_id))
        .where(tickets.c.created_by == GATEWAY)
    ).mappings()
    for row in recorded.all():
        conn.execute(
            requests.insert().values(
                openid=row["openid"],
                reason=row["reason"],
                queue=row["queue"],
                summary=row["summary"],
                status="open" if row["ticket_status"] == "open" else "done",
                created_at=_aware(row["created_at"]),
            )
        )
        conn.execute(ticket_events.delete().where(ticket_events.c.ticket_id == row["ticket_id"]))
        conn.execute(tickets.delete().where(tickets.c.id == row["ticket_id"]))
        conn.execute(conversations.delete().where(conversations.c.id == row["chat_id"]))
    _drop_indexes("conversations", "conversations", with_bot_paused=False)
    with op.batch_alter_table("conversations") as table:
        table.add_column(sa.Column("bot_paused", sa.Boolean, nullable=False, server_default=sa.false()))
    op.rename_table("conversations", "ho_chats")
    _rename_postgresql_names("conversations", "ho_chats")
    _create_indexes("ho_chats", "ho_chats", with_bot_paused=True)

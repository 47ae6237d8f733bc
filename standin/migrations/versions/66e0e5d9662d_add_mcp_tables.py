"""Add the MCP tables: external servers, tool executions, resource access.

Revision ID: 66e0e5d9662d
Revises: 9f3c1a2b7d10
"""

import sqlalchemy as sa
from alembic import op

revision = "66e0e5d9662d"
down_revision = "9f3c1a2b7d10"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mcp_external_servers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("transport", sa.String(32), nullable=False),
        sa.Column("auth_type", sa.String(32)),
        sa.Column("credentials", sa.JSON),
        sa.Column("capabilities", sa.JSON),
        sa.Column("metadata", sa.JSON),
        sa.Column("status", sa.String(32), nullable=False, server_default="registered"),
        sa.Column("last_health_check", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "mcp_tool_executions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("server_name", sa.String(255), nullable=False),
        sa.Column("tool_name", sa.String(255), nullable=False),
        sa.Column("arguments", sa.JSON),
        sa.Column("result", sa.JSON),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("execution_time_ms", sa.Float),
        sa.Column("error_message", sa.Text),
        sa.Column("user_id", sa.String(36)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "mcp_resource_access",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("server_name", sa.String(255), nullable=False),
        sa.Column("resource_uri", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(128)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(36)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mcp_resource_access")
    op.drop_table("mcp_tool_executions")
    op.drop_table("mcp_external_servers")

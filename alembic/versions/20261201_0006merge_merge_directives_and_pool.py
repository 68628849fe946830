"""merge the directives/outbox and pool/PBS branches

Revision ID: 0006merge
Revises: 0004directives, 0005pool
Create Date: 2026-12-01 13:55:00
"""

from collections.abc import Sequence

revision: str = "0006merge"
down_revision: str | Sequence[str] | None = ("0004directives", "0005pool")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

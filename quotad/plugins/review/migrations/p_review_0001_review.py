"""review plugin: calls, rubrics, proposals, documents, reviewers, conflicts, assignments, scores, decisions, audit

Revision ID: p_review_0001
Revises: 0002collector
Create Date: 2026-12-10 10:00:00.000000

The review plugin's branch (label "review") starts from a core revision, independent of the other plugins.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "p_review_0001"
down_revision: str | Sequence[str] | None = "0002collector"
branch_labels: str | Sequence[str] | None = ("review",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "review_audit",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=128), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_audit")),
    )
    op.create_index(op.f("ix_review_audit_entity"), "review_audit", ["entity"], unique=False)
    op.create_table(
        "review_calls",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title_ja", sa.String(length=300), nullable=False),
        sa.Column("title_en", sa.String(length=300), nullable=False),
        sa.Column("opens_at", sa.BigInteger(), nullable=True),
        sa.Column("closes_at", sa.BigInteger(), nullable=True),
        sa.Column("period_start", sa.BigInteger(), nullable=True),
        sa.Column("period_end", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attestation_ja", sa.Text(), nullable=False),
        sa.Column("attestation_en", sa.Text(), nullable=False),
        sa.Column("attestation_version", sa.Integer(), nullable=False),
        sa.Column("load_cap", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_calls")),
    )
    op.create_table(
        "review_reviewers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=False),
        sa.Column("affiliation", sa.String(length=300), nullable=False),
        sa.Column("company_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_reviewers")),
    )
    op.create_table(
        "review_attestations",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("reviewer_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("attested_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["review_calls.id"],
            name=op.f("fk_review_attestations_call_id_review_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["review_reviewers.id"],
            name=op.f("fk_review_attestations_reviewer_id_review_reviewers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_attestations")),
        sa.UniqueConstraint(
            "reviewer_id", "call_id", "version", name=op.f("uq_review_attestations_reviewer_id_call_id_version")
        ),
    )
    op.create_table(
        "review_caps",
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("reviewer_id", sa.String(length=64), nullable=False),
        sa.Column("cap", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["review_calls.id"], name=op.f("fk_review_caps_call_id_review_calls"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["review_reviewers.id"],
            name=op.f("fk_review_caps_reviewer_id_review_reviewers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("call_id", "reviewer_id", name=op.f("pk_review_caps")),
    )
    op.create_table(
        "review_criteria",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("title_ja", sa.String(length=300), nullable=False),
        sa.Column("title_en", sa.String(length=300), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("scale_min", sa.Integer(), nullable=False),
        sa.Column("scale_max", sa.Integer(), nullable=False),
        sa.Column("comment_required", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["review_calls.id"], name=op.f("fk_review_criteria_call_id_review_calls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_criteria")),
        sa.UniqueConstraint("call_id", "key", name=op.f("uq_review_criteria_call_id_key")),
    )
    op.create_index(op.f("ix_review_criteria_call_id"), "review_criteria", ["call_id"], unique=False)
    op.create_table(
        "review_proposals",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("company_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("submitted_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["review_calls.id"], name=op.f("fk_review_proposals_call_id_review_calls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_proposals")),
        sa.UniqueConstraint("call_id", "company_id", name=op.f("uq_review_proposals_call_id_company_id")),
    )
    op.create_index(op.f("ix_review_proposals_call_id"), "review_proposals", ["call_id"], unique=False)
    op.create_index(op.f("ix_review_proposals_company_id"), "review_proposals", ["company_id"], unique=False)
    op.create_table(
        "review_assignments",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("reviewer_id", sa.String(length=64), nullable=False),
        sa.Column("proposal_id", _ID, nullable=False),
        sa.Column("assigned_at", sa.BigInteger(), nullable=False),
        sa.Column("assigned_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["review_calls.id"],
            name=op.f("fk_review_assignments_call_id_review_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["review_proposals.id"],
            name=op.f("fk_review_assignments_proposal_id_review_proposals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["review_reviewers.id"],
            name=op.f("fk_review_assignments_reviewer_id_review_reviewers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_assignments")),
        sa.UniqueConstraint("reviewer_id", "proposal_id", name=op.f("uq_review_assignments_reviewer_id_proposal_id")),
    )
    op.create_index(op.f("ix_review_assignments_call_id"), "review_assignments", ["call_id"], unique=False)
    op.create_index(op.f("ix_review_assignments_proposal_id"), "review_assignments", ["proposal_id"], unique=False)
    op.create_table(
        "review_conflicts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("reviewer_id", sa.String(length=64), nullable=False),
        sa.Column("company_id", sa.String(length=64), nullable=True),
        sa.Column("proposal_id", _ID, nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["review_proposals.id"],
            name=op.f("fk_review_conflicts_proposal_id_review_proposals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["review_reviewers.id"],
            name=op.f("fk_review_conflicts_reviewer_id_review_reviewers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_conflicts")),
    )
    op.create_index(op.f("ix_review_conflicts_reviewer_id"), "review_conflicts", ["reviewer_id"], unique=False)
    op.create_table(
        "review_decisions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("proposal_id", _ID, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["review_proposals.id"],
            name=op.f("fk_review_decisions_proposal_id_review_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_decisions")),
    )
    op.create_index(op.f("ix_review_decisions_proposal_id"), "review_decisions", ["proposal_id"], unique=False)
    op.create_table(
        "review_documents",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("proposal_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_at", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["review_proposals.id"],
            name=op.f("fk_review_documents_proposal_id_review_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_documents")),
        sa.UniqueConstraint(
            "proposal_id", "name", "version", name=op.f("uq_review_documents_proposal_id_name_version")
        ),
    )
    op.create_index(op.f("ix_review_documents_proposal_id"), "review_documents", ["proposal_id"], unique=False)
    op.create_table(
        "review_requests",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("proposal_id", _ID, nullable=False),
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["review_proposals.id"],
            name=op.f("fk_review_requests_proposal_id_review_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_requests")),
        sa.UniqueConstraint("proposal_id", "cluster", "unit", name=op.f("uq_review_requests_proposal_id_cluster_unit")),
    )
    op.create_index(op.f("ix_review_requests_proposal_id"), "review_requests", ["proposal_id"], unique=False)
    op.create_table(
        "review_scores",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("assignment_id", _ID, nullable=False),
        sa.Column("criterion_id", _ID, nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("scored_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["review_assignments.id"],
            name=op.f("fk_review_scores_assignment_id_review_assignments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["criterion_id"],
            ["review_criteria.id"],
            name=op.f("fk_review_scores_criterion_id_review_criteria"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_scores")),
        sa.UniqueConstraint("assignment_id", "criterion_id", name=op.f("uq_review_scores_assignment_id_criterion_id")),
    )
    op.create_index(op.f("ix_review_scores_assignment_id"), "review_scores", ["assignment_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_review_scores_assignment_id"), table_name="review_scores")
    op.drop_table("review_scores")
    op.drop_index(op.f("ix_review_requests_proposal_id"), table_name="review_requests")
    op.drop_table("review_requests")
    op.drop_index(op.f("ix_review_documents_proposal_id"), table_name="review_documents")
    op.drop_table("review_documents")
    op.drop_index(op.f("ix_review_decisions_proposal_id"), table_name="review_decisions")
    op.drop_table("review_decisions")
    op.drop_index(op.f("ix_review_conflicts_reviewer_id"), table_name="review_conflicts")
    op.drop_table("review_conflicts")
    op.drop_index(op.f("ix_review_assignments_proposal_id"), table_name="review_assignments")
    op.drop_index(op.f("ix_review_assignments_call_id"), table_name="review_assignments")
    op.drop_table("review_assignments")
    op.drop_index(op.f("ix_review_proposals_company_id"), table_name="review_proposals")
    op.drop_index(op.f("ix_review_proposals_call_id"), table_name="review_proposals")
    op.drop_table("review_proposals")
    op.drop_index(op.f("ix_review_criteria_call_id"), table_name="review_criteria")
    op.drop_table("review_criteria")
    op.drop_table("review_caps")
    op.drop_table("review_attestations")
    op.drop_table("review_reviewers")
    op.drop_table("review_calls")
    op.drop_index(op.f("ix_review_audit_entity"), table_name="review_audit")
    op.drop_table("review_audit")

"""The programme plugin's one table: the office's findings, an editable text block per chapter and language.

The survey report's numbers come from the ledger and the plugins; what the office concludes from them is
written by people. Keeping those texts here (``programme findings set``) lets the report be rebuilt at any
time with the latest figures and the office's latest words, instead of hand-editing a generated file.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from quotad.ledger.models import Base

__all__ = ["ProgrammeFinding"]


class ProgrammeFinding(Base):
    __tablename__ = "programme_findings"
    part: Mapped[str] = mapped_column(String(32), primary_key=True)
    lang: Mapped[str] = mapped_column(String(2), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[int] = mapped_column(BigInteger)

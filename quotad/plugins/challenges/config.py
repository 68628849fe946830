"""The ``[challenges]`` configuration section: the categories challenges are filed under, with ja/en labels.

The survey report counts challenges by category, so the list is the office's vocabulary, not code: an office
that wants "power and cooling" apart from "compute" adds a category here. Keys are stable (stored in rows);
labels may change. The defaults are the categories the programme's survey asks about.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DEFAULT_CATEGORIES", "Category", "ChallengesConfig"]

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Category(_Section):
    key: str
    ja: str = Field(min_length=1)
    en: str = Field(min_length=1)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _KEY.match(value):
            raise ValueError("expected lower-case letters, digits or '_', starting with a letter")
        return value


DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category(key="data_acquisition", ja="データの取得", en="Data acquisition"),
    Category(key="compute", ja="計算資源の確保・障害", en="Compute availability and failures"),
    Category(key="evaluation", ja="評価", en="Evaluation"),
    Category(key="talent", ja="人材", en="Talent"),
    Category(key="governance_legal", ja="ガバナンス・法務", en="Governance and legal"),
    Category(key="cost", ja="費用", en="Cost"),
    Category(key="other", ja="その他", en="Other"),
)


class ChallengesConfig(_Section):
    categories: tuple[Category, ...] = DEFAULT_CATEGORIES

    @field_validator("categories")
    @classmethod
    def _unique(cls, value: tuple[Category, ...]) -> tuple[Category, ...]:
        if not value:
            raise ValueError("at least one category is needed")
        keys = [c.key for c in value]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"category key(s) listed twice: {', '.join(twice)}")
        return value

    def category(self, key: str) -> Category | None:
        return next((c for c in self.categories if c.key == key), None)

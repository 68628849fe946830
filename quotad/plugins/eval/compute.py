"""A model's own compute: its ``eval link`` resolved against the ledger, so boards can show it per model.

Without a link, a board can only show the company's whole use beside every model of the company, which says
nothing about what one model cost. A link names the jobs that trained the model (Slurm job ids) or an account
over a time range; it is stored as given and resolved each time a board is built, so jobs ingested after the
link count and a correction in the ledger shows. Only the company's own accounts count (a link cannot borrow
another company's compute); job ids the ledger does not hold are refused when the link is made.
"""

from __future__ import annotations

from collections.abc import Sequence

from quotad.errors import UsageError
from quotad.plugins.api import LedgerView, LinkedCompute
from quotad.plugins.eval.store import ComputeLink

__all__ = ["checked", "resolve", "resolve_all"]


def resolve(view: LedgerView, link: ComputeLink) -> LinkedCompute:
    if link.account is not None:
        return view.linked_compute(link.company_id, account=link.account, start=link.start or 0, end=link.end or 0)
    return view.linked_compute(link.company_id, job_ids=link.job_ids)


def resolve_all(view: LedgerView, links: Sequence[ComputeLink]) -> dict[tuple[str, str], LinkedCompute]:
    return {(link.company_id, link.model): resolve(view, link) for link in links}


def checked(view: LedgerView, link: ComputeLink) -> LinkedCompute:
    """The link's compute, or ``UsageError`` when it names jobs the ledger does not hold for the company."""
    found = resolve(view, link)
    if found.missing:
        shown = ", ".join(found.missing[:10]) + (", ..." if len(found.missing) > 10 else "")
        raise UsageError(
            f"--jobs: {len(found.missing)} job id(s) not in the ledger under {link.company_id}'s accounts: {shown}"
        )
    return found

"""Writes to the schedulers: Slurm QOS limits, holds and maintenance reservations.

Collectors only read schedulers; everything that changes a scheduler's state lives here, behind the same
subprocess boundary (``quotad.collectors.runner``) the collectors use. ``sacctmgr`` runs and parses the Slurm
commands; ``slurm_limits`` derives each account's QOS limits from its grants and applies them.
"""

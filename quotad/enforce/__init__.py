"""Changing Slurm's state: QOS limits from grants, and the sacctmgr/scontrol tools that do it.

Collectors only read schedulers; what writes to Slurm lives here, behind the runner the collectors use too
(``quotad.collectors.runner``). ``sacctmgr`` runs and parses Slurm's control commands (``SlurmTools``; the
directive actions' holds and cancels and ``quotad maintenance import-slurm`` go through it as well);
``slurm_limits`` derives each account's QOS limits from its grants and applies them.
"""

"""Directives: findings that persist, with a lifecycle, reminders, escalation and optional enforcement.

``engine`` turns a tick's findings into directive rows (open -> notified -> acknowledged -> resolved or
expired), ``lifecycle`` holds the pure rules (when to notify, escalate, resolve), ``explain`` says why each
policy fired or not, ``enforcement`` plans and runs Slurm actions (through ``quotad.enforce``). One policy tick
end to end is ``quotad.tick``, above this package.
"""

"""Plugins: optional features that live beside the ledger (evaluation results, the public site, ...).

``host`` finds them through the entry-point group ``quotad.plugins`` and reports those that fail to load;
``api`` is everything a plugin may use of quotad. Built-ins (``eval``, ``site``) go through the same door as
third-party plugins, so the mechanism is exercised by the code that ships with it.

Nothing is imported here on purpose: the host locates a plugin's migrations without executing plugin code.
"""

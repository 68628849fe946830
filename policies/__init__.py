"""Policies: each module reads the ledger through ``quotad.ledger.queries`` and returns typed findings.

A policy never sends mail, runs commands or exports metrics; the directive engine turns findings into
directives and the notifier tells the companies.
"""

"""Policies: pure functions of the ledger's facts (``quotad.ledger.facts.LedgerFacts``) that return typed findings.

A policy never sends mail, runs commands or exports metrics; the directive engine turns findings into
directives and the notifier tells the companies.
"""

"""Collectors: read a scheduler's or a GPU's own records and turn them into typed records for the ledger.

They parse and map; they never judge (that is ``policies``) and never write outside ``quotad.ledger.ingest``.
"""

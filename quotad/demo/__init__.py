"""Synthetic programme for ``quotad demo`` and the benchmarks.

Kept free of imports so that importing ``quotad.demo.synthetic`` (stdlib only) never drags in the ledger or
the CLI: the benchmark streams a million generated sacct lines and measures only generation and parsing.
"""

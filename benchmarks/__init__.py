"""Benchmarks: ``make bench`` measures the checker against the physical floor and other tools.

Run as ``python -m benchmarks`` from the repository root; it prints one report and writes
it to docs/performance.md. Every figure in that file comes from the run that wrote it.
"""

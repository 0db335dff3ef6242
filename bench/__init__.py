"""Benchmarks of the portal on realistic data volumes (`python -m bench.registry --help`)."""

"""asv suites: thin classes over mtlperf.timing (see benchmarks/common.py)."""

"""Benchmarks: scripts that measure and write a JSON report under bench/reports/; never part of the test run."""

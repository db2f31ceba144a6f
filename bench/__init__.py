"""Benchmarks of aefarm against real controller and agent processes on 127.0.0.1."""

"""Benchmarks: speed and memory figures on large synthetic data (`make bench`).

Each module ``benchmarks.<area>`` exposes ``main()`` and prints its own table. They are
figures to read, not pass/fail tests: these machines are shared and noisy.
"""

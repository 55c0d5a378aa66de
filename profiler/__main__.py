"""`python -m profiler` runs the command line, like `energy-profiler`."""

from profiler.cli import main

main()

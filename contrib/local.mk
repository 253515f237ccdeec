# Developer scripts, benchmark, examples.

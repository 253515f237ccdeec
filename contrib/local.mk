# Developer scripts, benchmark, examples.
EXTRA_DIST += contrib/deps.sh contrib/check.sh contrib/demo/run.sh

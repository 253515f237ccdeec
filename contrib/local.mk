# Developer scripts, benchmark, examples.
EXTRA_DIST += contrib/deps.sh contrib/check.sh contrib/demo/run.sh
dist_noinst_SCRIPTS += contrib/bench/run.sh
EXTRA_DIST += contrib/bench/README.md

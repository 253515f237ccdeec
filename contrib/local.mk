# Developer scripts, benchmark, examples.
EXTRA_DIST += contrib/deps.sh contrib/check.sh contrib/demo/run.sh
dist_noinst_SCRIPTS += contrib/bench/run.sh contrib/bench/cache.sh
EXTRA_DIST += contrib/bench/README.md contrib/bench/lib.sh contrib/bench/fill.lua

# The client-facing fuzz target (tests/netfuzz/fuzz_http.c), replayed over
# its corpus in `make check` so every kept reproducer stays fixed.  The
# libFuzzer build itself is contrib/netfuzz/run.sh (clang only).
check_PROGRAMS += tests/netfuzz/replay
tests_netfuzz_replay_SOURCES = tests/netfuzz/replay.c tests/netfuzz/fuzz_http.c \
	tests/netfuzz/fuzz_server.c tests/netfuzz/fuzz_server.h
tests_netfuzz_replay_CPPFLAGS = $(UNIT_CPPFLAGS) \
	-DVP_NETFUZZ_CORPUS='"$(abs_top_srcdir)/tests/netfuzz/corpus"'
tests_netfuzz_replay_CFLAGS = $(UNIT_CFLAGS)
tests_netfuzz_replay_LDADD = $(UNIT_LDADD)
TESTS += tests/netfuzz/replay
EXTRA_DIST += tests/netfuzz/corpus

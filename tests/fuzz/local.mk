# Fuzz targets (tests/fuzz/fuzz_*.c, libFuzzer entry points).  Here each
# one is built with replay.c as a plain check program that runs its whole
# corpus (seeds plus every reproducer of a fixed bug) once, so `make
# check`, and its ASan+UBSan run in contrib/check.sh, keep the fixes.
# contrib/fuzz/run.sh builds the same sources with -fsanitize=fuzzer.
FUZZ_CPPFLAGS = $(UNIT_CPPFLAGS) -I$(top_srcdir)/tests/fuzz
FUZZ_CORPUS = $(abs_top_srcdir)/tests/fuzz/corpus
# The configs the tree already has are seeds of the config readers too.
FUZZ_CONFIG_SEEDS = $(abs_top_srcdir)/tests/data/config:$(abs_top_srcdir)/contrib/examples

EXTRA_DIST += tests/fuzz/fuzz.h tests/fuzz/corpus

check_PROGRAMS += tests/fuzz/fuzz_cfgtree
tests_fuzz_fuzz_cfgtree_SOURCES = tests/fuzz/fuzz_cfgtree.c tests/fuzz/replay.c
tests_fuzz_fuzz_cfgtree_CPPFLAGS = $(FUZZ_CPPFLAGS) \
	-DVP_FUZZ_CORPUS='"$(FUZZ_CORPUS)/cfgtree:$(FUZZ_CONFIG_SEEDS)"'
tests_fuzz_fuzz_cfgtree_CFLAGS = $(UNIT_CFLAGS)
tests_fuzz_fuzz_cfgtree_LDADD = $(UNIT_LDADD)
TESTS += tests/fuzz/fuzz_cfgtree

check_PROGRAMS += tests/fuzz/fuzz_config
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c tests/fuzz/replay.c
tests_fuzz_fuzz_config_CPPFLAGS = $(FUZZ_CPPFLAGS) \
	-DVP_FUZZ_CORPUS='"$(FUZZ_CORPUS)/config:$(FUZZ_CORPUS)/cfgtree:$(FUZZ_CONFIG_SEEDS)"'
tests_fuzz_fuzz_config_CFLAGS = $(UNIT_CFLAGS)
tests_fuzz_fuzz_config_LDADD = $(UNIT_LDADD)
TESTS += tests/fuzz/fuzz_config

check_PROGRAMS += tests/fuzz/fuzz_resp_pack
tests_fuzz_fuzz_resp_pack_SOURCES = tests/fuzz/fuzz_resp_pack.c tests/fuzz/replay.c
tests_fuzz_fuzz_resp_pack_CPPFLAGS = $(FUZZ_CPPFLAGS) \
	-DVP_FUZZ_CORPUS='"$(FUZZ_CORPUS)/resp_pack"'
tests_fuzz_fuzz_resp_pack_CFLAGS = $(UNIT_CFLAGS)
tests_fuzz_fuzz_resp_pack_LDADD = $(UNIT_LDADD)
TESTS += tests/fuzz/fuzz_resp_pack

check_PROGRAMS += tests/fuzz/fuzz_persist
tests_fuzz_fuzz_persist_SOURCES = tests/fuzz/fuzz_persist.c tests/fuzz/replay.c
tests_fuzz_fuzz_persist_CPPFLAGS = $(FUZZ_CPPFLAGS) \
	-DVP_FUZZ_CORPUS='"$(FUZZ_CORPUS)/persist"'
tests_fuzz_fuzz_persist_CFLAGS = $(UNIT_CFLAGS)
tests_fuzz_fuzz_persist_LDADD = $(UNIT_LDADD)
TESTS += tests/fuzz/fuzz_persist

check_PROGRAMS += tests/fuzz/fuzz_sanitize
tests_fuzz_fuzz_sanitize_SOURCES = tests/fuzz/fuzz_sanitize.c tests/fuzz/replay.c
tests_fuzz_fuzz_sanitize_CPPFLAGS = $(FUZZ_CPPFLAGS) \
	-DVP_FUZZ_CORPUS='"$(FUZZ_CORPUS)/sanitize"'
tests_fuzz_fuzz_sanitize_CFLAGS = $(UNIT_CFLAGS)
tests_fuzz_fuzz_sanitize_LDADD = $(UNIT_LDADD)
TESTS += tests/fuzz/fuzz_sanitize

check_PROGRAMS += tests/fuzz/fuzz_wrap_info
tests_fuzz_fuzz_wrap_info_SOURCES = tests/fuzz/fuzz_wrap_info.c tests/fuzz/replay.c
tests_fuzz_fuzz_wrap_info_CPPFLAGS = $(FUZZ_CPPFLAGS) \
	-DVP_FUZZ_CORPUS='"$(FUZZ_CORPUS)/wrap_info"'
tests_fuzz_fuzz_wrap_info_CFLAGS = $(UNIT_CFLAGS)
tests_fuzz_fuzz_wrap_info_LDADD = $(UNIT_LDADD)
TESTS += tests/fuzz/fuzz_wrap_info

check_PROGRAMS += tests/fuzz/fuzz_index_state
tests_fuzz_fuzz_index_state_SOURCES = tests/fuzz/fuzz_index_state.c tests/fuzz/replay.c plugins/consistency_vault/index_state.c
tests_fuzz_fuzz_index_state_CPPFLAGS = $(FUZZ_CPPFLAGS) \
	-I$(top_srcdir)/plugins/consistency_vault \
	-DVP_FUZZ_CORPUS='"$(FUZZ_CORPUS)/index_state"'
tests_fuzz_fuzz_index_state_CFLAGS = $(UNIT_CFLAGS)
tests_fuzz_fuzz_index_state_LDADD = $(UNIT_LDADD)
TESTS += tests/fuzz/fuzz_index_state

check_PROGRAMS += tests/fuzz/fuzz_auto_auth
tests_fuzz_fuzz_auto_auth_SOURCES = tests/fuzz/fuzz_auto_auth.c tests/fuzz/replay.c
tests_fuzz_fuzz_auto_auth_CPPFLAGS = $(FUZZ_CPPFLAGS) \
	-DVP_FUZZ_CORPUS='"$(FUZZ_CORPUS)/auto_auth"'
tests_fuzz_fuzz_auto_auth_CFLAGS = $(UNIT_CFLAGS)
tests_fuzz_fuzz_auto_auth_LDADD = $(UNIT_LDADD)
TESTS += tests/fuzz/fuzz_auto_auth

check_PROGRAMS += tests/fuzz/fuzz_host_json
tests_fuzz_fuzz_host_json_SOURCES = tests/fuzz/fuzz_host_json.c tests/fuzz/replay.c
tests_fuzz_fuzz_host_json_CPPFLAGS = $(FUZZ_CPPFLAGS) \
	-DVP_FUZZ_CORPUS='"$(FUZZ_CORPUS)/host_json"'
tests_fuzz_fuzz_host_json_CFLAGS = $(UNIT_CFLAGS)
tests_fuzz_fuzz_host_json_LDADD = $(UNIT_LDADD)
TESTS += tests/fuzz/fuzz_host_json

check_PROGRAMS += tests/fuzz/fuzz_sink_dh
tests_fuzz_fuzz_sink_dh_SOURCES = tests/fuzz/fuzz_sink_dh.c tests/fuzz/replay.c
tests_fuzz_fuzz_sink_dh_CPPFLAGS = $(FUZZ_CPPFLAGS) \
	-DVP_FUZZ_CORPUS='"$(FUZZ_CORPUS)/sink_dh"'
tests_fuzz_fuzz_sink_dh_CFLAGS = $(UNIT_CFLAGS)
tests_fuzz_fuzz_sink_dh_LDADD = $(UNIT_LDADD)
TESTS += tests/fuzz/fuzz_sink_dh

check_PROGRAMS += tests/fuzz/fuzz_upstream_response
tests_fuzz_fuzz_upstream_response_SOURCES = tests/fuzz/fuzz_upstream_response.c tests/fuzz/replay.c
tests_fuzz_fuzz_upstream_response_CPPFLAGS = $(FUZZ_CPPFLAGS) \
	-DVP_FUZZ_CORPUS='"$(FUZZ_CORPUS)/upstream_response"'
tests_fuzz_fuzz_upstream_response_CFLAGS = $(UNIT_CFLAGS)
tests_fuzz_fuzz_upstream_response_LDADD = $(UNIT_LDADD)
TESTS += tests/fuzz/fuzz_upstream_response

check_PROGRAMS += tests/fuzz/fuzz_ws_frame
tests_fuzz_fuzz_ws_frame_SOURCES = tests/fuzz/fuzz_ws_frame.c tests/fuzz/replay.c
tests_fuzz_fuzz_ws_frame_CPPFLAGS = $(FUZZ_CPPFLAGS) \
	-DVP_FUZZ_CORPUS='"$(FUZZ_CORPUS)/ws_frame"'
tests_fuzz_fuzz_ws_frame_CFLAGS = $(UNIT_CFLAGS)
tests_fuzz_fuzz_ws_frame_LDADD = $(UNIT_LDADD)
TESTS += tests/fuzz/fuzz_ws_frame

# HTTP/2 clients: frames of one h2c connection through the listener, the
# router and the chain (like tests/netfuzz/fuzz_http.c for HTTP/1.1).
check_PROGRAMS += tests/fuzz/fuzz_h2
tests_fuzz_fuzz_h2_SOURCES = tests/fuzz/fuzz_h2.c tests/fuzz/replay.c \
	tests/netfuzz/fuzz_server.c tests/netfuzz/fuzz_server.h
tests_fuzz_fuzz_h2_CPPFLAGS = $(FUZZ_CPPFLAGS) \
	-DVP_FUZZ_CORPUS='"$(FUZZ_CORPUS)/h2"'
tests_fuzz_fuzz_h2_CFLAGS = $(UNIT_CFLAGS)
tests_fuzz_fuzz_h2_LDADD = $(UNIT_LDADD)
TESTS += tests/fuzz/fuzz_h2

# The golden template cases are seeds of the template fuzzer too.
check_PROGRAMS += tests/fuzz/fuzz_tmpl
tests_fuzz_fuzz_tmpl_SOURCES = tests/fuzz/fuzz_tmpl.c tests/fuzz/replay.c
tests_fuzz_fuzz_tmpl_CPPFLAGS = $(FUZZ_CPPFLAGS) \
	-DVP_FUZZ_CORPUS='"$(FUZZ_CORPUS)/tmpl:$(abs_top_srcdir)/tests/data/tmpl"'
tests_fuzz_fuzz_tmpl_CFLAGS = $(UNIT_CFLAGS)
tests_fuzz_fuzz_tmpl_LDADD = $(UNIT_LDADD)
TESTS += tests/fuzz/fuzz_tmpl

# Unit tests, one binary per module.  Each block belongs to one module.

# config reader and typed config
check_PROGRAMS += tests/unit/test_cfgtree tests/unit/test_config
tests_unit_test_cfgtree_SOURCES = tests/unit/test_cfgtree.c
tests_unit_test_cfgtree_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_cfgtree_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_cfgtree_LDADD = $(UNIT_LDADD)
tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_config_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_config_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_cfgtree tests/unit/test_config

# log file, reload comparison, config dump redaction
check_PROGRAMS += tests/unit/test_ops
tests_unit_test_ops_SOURCES = tests/unit/test_ops.c
tests_unit_test_ops_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_ops_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ops_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_ops

# reload decisions and the key table
check_PROGRAMS += tests/unit/test_reload
tests_unit_test_reload_SOURCES = tests/unit/test_reload.c
tests_unit_test_reload_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_reload_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_reload_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_reload

# HTTP server
check_PROGRAMS += tests/unit/test_server
tests_unit_test_server_SOURCES = tests/unit/test_server.c
tests_unit_test_server_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_server_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_server_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_server

# HTTP/2 sessions: an nghttp2 client against vpd_h2_conn in memory
check_PROGRAMS += tests/unit/test_h2
tests_unit_test_h2_SOURCES = tests/unit/test_h2.c
tests_unit_test_h2_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_h2_CFLAGS = $(UNIT_CFLAGS) $(NGHTTP2_CFLAGS)
tests_unit_test_h2_LDADD = $(UNIT_LDADD) $(NGHTTP2_LIBS)
TESTS += tests/unit/test_h2

# header policy: the flag table and the filter
check_PROGRAMS += tests/unit/test_hdr_filter
tests_unit_test_hdr_filter_SOURCES = tests/unit/test_hdr_filter.c
tests_unit_test_hdr_filter_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_hdr_filter_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_hdr_filter_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_hdr_filter

check_PROGRAMS += tests/unit/test_target_bytes
tests_unit_test_target_bytes_SOURCES = tests/unit/test_target_bytes.c
tests_unit_test_target_bytes_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_target_bytes_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_target_bytes_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_target_bytes

# jitter and backoff waits
check_PROGRAMS += tests/unit/test_backoff
tests_unit_test_backoff_SOURCES = tests/unit/test_backoff.c
tests_unit_test_backoff_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_backoff_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_backoff_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_backoff

# auto-auth state machine against a scripted Vault (with the approle plugin)
check_PROGRAMS += tests/unit/test_auto_auth
tests_unit_test_auto_auth_SOURCES = tests/unit/test_auto_auth.c
tests_unit_test_auto_auth_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_auto_auth_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_auto_auth_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_auto_auth

# forwarder
check_PROGRAMS += tests/unit/test_forward
tests_unit_test_forward_SOURCES = tests/unit/test_forward.c \
	tests/unit/loopback.c tests/unit/loopback.h
tests_unit_test_forward_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_forward_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_forward_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_forward

# upstream client (connections, pools, TLS, egress proxies)
check_PROGRAMS += tests/unit/test_upstream_client
tests_unit_test_upstream_client_SOURCES = tests/unit/test_upstream_client.c \
	tests/unit/loopback.c tests/unit/loopback.h
tests_unit_test_upstream_client_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_upstream_client_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_upstream_client_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_upstream_client

# the RFC 6455 framing codec (split, coalesced, fragmented, refused frames)
check_PROGRAMS += tests/unit/test_ws_frame
tests_unit_test_ws_frame_SOURCES = tests/unit/test_ws_frame.c
tests_unit_test_ws_frame_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_ws_frame_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ws_frame_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_ws_frame

# the WebSocket client through the forwarder's Upgrade hand-off
check_PROGRAMS += tests/unit/test_ws_client
tests_unit_test_ws_client_SOURCES = tests/unit/test_ws_client.c
tests_unit_test_ws_client_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_ws_client_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ws_client_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_ws_client

# the KV event message parser of the event subscription
check_PROGRAMS += tests/unit/test_kv_events
tests_unit_test_kv_events_SOURCES = tests/unit/test_kv_events.c
tests_unit_test_kv_events_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_kv_events_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_kv_events_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_kv_events

# plugin loader (needs the test plugins and the shipped ones built)
check_PROGRAMS += tests/unit/test_loader
tests_unit_test_loader_SOURCES = tests/unit/test_loader.c
tests_unit_test_loader_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_loader_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_loader_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_loader

# chain order: pass, early answer, retry (with the trace test plugin)
check_PROGRAMS += tests/unit/test_chain
tests_unit_test_chain_SOURCES = tests/unit/test_chain.c
tests_unit_test_chain_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_chain_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_chain_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_chain

# consistency: the X-Vault-Index merge rule and the policies' hooks
check_PROGRAMS += tests/unit/test_consistency
tests_unit_test_consistency_SOURCES = tests/unit/test_consistency.c \
	plugins/consistency_vault/index_state.c
tests_unit_test_consistency_CPPFLAGS = $(UNIT_CPPFLAGS) \
	-I$(top_srcdir)/plugins/consistency_vault
tests_unit_test_consistency_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_consistency_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_consistency

# DH sink encryption: envelope opened by an OpenSSL client decryptor
check_PROGRAMS += tests/unit/test_sink_dh
tests_unit_test_sink_dh_SOURCES = tests/unit/test_sink_dh.c
tests_unit_test_sink_dh_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_sink_dh_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_sink_dh_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_sink_dh

# auth method plugins (approle, kubernetes, cert), dlopened from the build
# tree and driven through the stand-alone mock host (no core code linked)
check_PROGRAMS += tests/unit/test_auth_plugins
tests_unit_test_auth_plugins_SOURCES = tests/unit/test_auth_plugins.c \
	tests/host/mock_host.c tests/host/mock_host.h
tests_unit_test_auth_plugins_CPPFLAGS = $(UNIT_CPPFLAGS) \
	-I$(top_srcdir)/tests/host
tests_unit_test_auth_plugins_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_auth_plugins_LDADD = $(JSONC_LIBS) -ldl
tests_unit_test_auth_plugins_DEPENDENCIES = plugins/auth_approle.la \
	plugins/auth_kubernetes.la plugins/auth_cert.la
TESTS += tests/unit/test_auth_plugins

# auto-auth token answers sanitised
check_PROGRAMS += tests/unit/test_sanitize
tests_unit_test_sanitize_SOURCES = tests/unit/test_sanitize.c
tests_unit_test_sanitize_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_sanitize_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_sanitize_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_sanitize

# file sink
check_PROGRAMS += tests/unit/test_sink_file
tests_unit_test_sink_file_SOURCES = tests/unit/test_sink_file.c
tests_unit_test_sink_file_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_sink_file_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_sink_file_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_sink_file

# DH sink client (a helper, not a test): makes a client key pair and opens
# the envelopes a dh_type sink writes (tests/integration/test_sinks.py)
check_PROGRAMS += tests/tools/dh_decrypt
tests_tools_dh_decrypt_SOURCES = tests/tools/dh_decrypt.c
tests_tools_dh_decrypt_CPPFLAGS = $(AM_CPPFLAGS)
tests_tools_dh_decrypt_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(JSONC_CFLAGS)
tests_tools_dh_decrypt_LDADD = $(OPENSSL_LIBS) $(JSONC_LIBS)

# KV event subscription probe (a helper, not a test): core/cache/kv_events
# against the simulator's event stream (tests/integration/test_kv_events.py)
check_PROGRAMS += tests/tools/kv_events_probe
tests_tools_kv_events_probe_SOURCES = tests/tools/kv_events_probe.c
tests_tools_kv_events_probe_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_tools_kv_events_probe_CFLAGS = $(UNIT_CFLAGS)
tests_tools_kv_events_probe_LDADD = $(UNIT_LDADD)

# cache plugin "memory", dlopened from the build tree and driven through
# the stand-alone mock host (no core code linked)
check_PROGRAMS += tests/unit/test_cache_memory
tests_unit_test_cache_memory_SOURCES = tests/unit/test_cache_memory.c \
	tests/host/mock_host.c tests/host/mock_host.h
tests_unit_test_cache_memory_CPPFLAGS = $(UNIT_CPPFLAGS) \
	-I$(top_srcdir)/tests/host
tests_unit_test_cache_memory_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_cache_memory_LDADD = $(JSONC_LIBS) -ldl
tests_unit_test_cache_memory_DEPENDENCIES = plugins/cache_memory.la
TESTS += tests/unit/test_cache_memory

# durations: the daemon's parser and the SDK's mock host read them alike
# (links the core and the mock host, which share core/base/duration.c)
check_PROGRAMS += tests/unit/test_duration
tests_unit_test_duration_SOURCES = tests/unit/test_duration.c \
	tests/host/mock_host.c tests/host/mock_host.h
tests_unit_test_duration_CPPFLAGS = $(UNIT_CPPFLAGS) \
	-I$(top_srcdir)/tests/host
tests_unit_test_duration_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_duration_LDADD = $(UNIT_LDADD) $(JSONC_LIBS)
TESTS += tests/unit/test_duration

# host->read_file and read_file_opts: the daemon and the SDK's mock host
# (which share core/plugin/file_read.c) read and refuse files alike
check_PROGRAMS += tests/unit/test_read_file
tests_unit_test_read_file_SOURCES = tests/unit/test_read_file.c \
	tests/host/mock_host.c tests/host/mock_host.h
tests_unit_test_read_file_CPPFLAGS = $(UNIT_CPPFLAGS) \
	-I$(top_srcdir)/tests/host
tests_unit_test_read_file_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_read_file_LDADD = $(UNIT_LDADD) $(JSONC_LIBS)
TESTS += tests/unit/test_read_file

# the SDK's mock host covers every kind and the request members (test
# plugins dlopened from the build tree, no core code linked)
check_PROGRAMS += tests/unit/test_mock_host
tests_unit_test_mock_host_SOURCES = tests/unit/test_mock_host.c \
	tests/host/mock_host.c tests/host/mock_host.h
tests_unit_test_mock_host_CPPFLAGS = $(UNIT_CPPFLAGS) \
	-I$(top_srcdir)/tests/host
tests_unit_test_mock_host_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_mock_host_LDADD = $(JSONC_LIBS) -ldl
tests_unit_test_mock_host_DEPENDENCIES = tests/plugins/trace.la \
	tests/plugins/keyed.la
TESTS += tests/unit/test_mock_host

# encrypted persistent store of the lease cache: format, keys, crash safety
check_PROGRAMS += tests/unit/test_persist
tests_unit_test_persist_SOURCES = tests/unit/test_persist.c
tests_unit_test_persist_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_persist_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_persist_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_persist

# metrics registry: histogram buckets, the JSON and Prometheus writers
check_PROGRAMS += tests/unit/test_metrics
tests_unit_test_metrics_SOURCES = tests/unit/test_metrics.c
tests_unit_test_metrics_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_metrics_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_metrics_LDADD = $(UNIT_LDADD) -lm
TESTS += tests/unit/test_metrics

# lease cache parts: renewal watcher set, stored-answer packer, key forms
check_PROGRAMS += tests/unit/test_lease_parts
tests_unit_test_lease_parts_SOURCES = tests/unit/test_lease_parts.c
tests_unit_test_lease_parts_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_lease_parts_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_lease_parts_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_lease_parts

# the lease cache through its interface: per-token answers, cache-clear
# selectors, coalescing of identical misses
check_PROGRAMS += tests/unit/test_lease_cache
tests_unit_test_lease_cache_SOURCES = tests/unit/test_lease_cache.c
tests_unit_test_lease_cache_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_lease_cache_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_lease_cache_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_lease_cache

# the router: a request through the chain against a loopback upstream
check_PROGRAMS += tests/unit/test_router
tests_unit_test_router_SOURCES = tests/unit/test_router.c
tests_unit_test_router_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_router_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_router_LDADD = $(UNIT_LDADD) -lpthread
TESTS += tests/unit/test_router

# the static secret cache: token sets, eviction, path rules, the table
check_PROGRAMS += tests/unit/test_static_cache
tests_unit_test_static_cache_SOURCES = tests/unit/test_static_cache.c
tests_unit_test_static_cache_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_static_cache_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_static_cache_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_static_cache

# the host table's 1.2 members: timers, reauth, JSON, fetch
check_PROGRAMS += tests/unit/test_host_api12
tests_unit_test_host_api12_SOURCES = tests/unit/test_host_api12.c
tests_unit_test_host_api12_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_host_api12_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_host_api12_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_host_api12

# libcurl loaded at the first fetch, and the reasons when it cannot be
check_PROGRAMS += tests/unit/test_curl_api
tests_unit_test_curl_api_SOURCES = tests/unit/test_curl_api.c
tests_unit_test_curl_api_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_curl_api_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_curl_api_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_curl_api

# auth method "jwt" (plugins/auth_jwt, a plugin built like a third party's):
# its own unit tests on the in-tree mock host; test_auth_jwt.py builds it
# against the staged SDK and runs it against the simulator
check_PROGRAMS += tests/unit/test_auth_jwt
tests_unit_test_auth_jwt_SOURCES = plugins/auth_jwt/tests/test_auth_jwt.c \
	plugins/auth_jwt/src/auth_jwt.c \
	tests/host/mock_host.c tests/host/mock_host.h
tests_unit_test_auth_jwt_CPPFLAGS = $(UNIT_CPPFLAGS) \
	-I$(top_srcdir)/tests/host
tests_unit_test_auth_jwt_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_auth_jwt_LDADD = $(JSONC_LIBS)
TESTS += tests/unit/test_auth_jwt

# the template language: golden files, the two-pass contract, speed
check_PROGRAMS += tests/unit/test_tmpl
tests_unit_test_tmpl_SOURCES = tests/unit/test_tmpl.c
tests_unit_test_tmpl_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_tmpl_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_tmpl_LDADD = $(UNIT_LDADD) $(JSONC_LIBS)
TESTS += tests/unit/test_tmpl
EXTRA_DIST += tests/data/tmpl

# the template language's positions and positioned messages
check_PROGRAMS += tests/unit/test_tmpl_pos
tests_unit_test_tmpl_pos_SOURCES = tests/unit/test_tmpl_pos.c
tests_unit_test_tmpl_pos_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_tmpl_pos_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_tmpl_pos_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_tmpl_pos

# agent mode: config blocks, runner scheduling
check_PROGRAMS += tests/unit/test_agent_config
tests_unit_test_agent_config_SOURCES = tests/unit/test_agent_config.c
tests_unit_test_agent_config_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_agent_config_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_agent_config_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_agent_config
check_PROGRAMS += tests/unit/test_agent_runner
tests_unit_test_agent_runner_SOURCES = tests/unit/test_agent_runner.c
tests_unit_test_agent_runner_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_agent_runner_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_agent_runner_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_agent_runner
# user and group ids of a configuration (base/sys_ids.c)
check_PROGRAMS += tests/unit/test_sys_ids
tests_unit_test_sys_ids_SOURCES = tests/unit/test_sys_ids.c
tests_unit_test_sys_ids_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_sys_ids_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_sys_ids_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_sys_ids

check_PROGRAMS += tests/unit/test_agent_dest
tests_unit_test_agent_dest_SOURCES = tests/unit/test_agent_dest.c
tests_unit_test_agent_dest_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_agent_dest_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_agent_dest_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_agent_dest

check_PROGRAMS += tests/unit/test_tls_session_name
tests_unit_test_tls_session_name_SOURCES = tests/unit/test_tls_session_name.c \
	tests/unit/loopback.c tests/unit/loopback.h
tests_unit_test_tls_session_name_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_tls_session_name_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_tls_session_name_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_tls_session_name

check_PROGRAMS += tests/unit/test_tls_pump
tests_unit_test_tls_pump_SOURCES = tests/unit/test_tls_pump.c \
	tests/unit/loopback.c tests/unit/loopback.h
tests_unit_test_tls_pump_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_tls_pump_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_tls_pump_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_tls_pump

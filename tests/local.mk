# Every test speaks TAP: C unit tests (tests/harness/test.h) and Python
# integration scripts (tests/integration/harness.py).
TEST_EXTENSIONS = .py
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
PY_LOG_DRIVER = $(LOG_DRIVER)
PY_LOG_COMPILER = $(PYTHON3)
AM_TESTS_ENVIRONMENT = \
	VAPROXYD='$(abs_top_builddir)/core/vaproxyd'; export VAPROXYD; \
	VAPROXY_PLUGIN_DIR='$(abs_top_builddir)/plugins'; export VAPROXY_PLUGIN_DIR; \
	VAPROXY_TEST_PLUGIN_DIR='$(abs_top_builddir)/tests/plugins'; export VAPROXY_TEST_PLUGIN_DIR; \
	VAPROXY_SRCDIR='$(abs_top_srcdir)'; export VAPROXY_SRCDIR; \
	VAPROXY_BUILDDIR='$(abs_top_builddir)'; export VAPROXY_BUILDDIR; \
	PYTHONDONTWRITEBYTECODE=1; export PYTHONDONTWRITEBYTECODE; \
	LD_BIND_NOW=1; export LD_BIND_NOW;

UNIT_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/harness $(LLHTTP_CFLAGS) \
	-DVP_TEST_DATADIR='"$(abs_top_srcdir)/tests/data"' \
	-DVP_TEST_PLUGINDIR='"$(abs_top_builddir)/tests/plugins"' \
	-DVP_BUILD_PLUGINDIR='"$(abs_top_builddir)/plugins"'
UNIT_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(CURL_CFLAGS) $(JSONC_CFLAGS) $(OPENSSL_CFLAGS)
UNIT_LDADD = core/libvpcore.la

EXTRA_DIST += tests/harness/test.h tests/sim/vaultsim.py \
	tests/integration/harness.py tests/tools/connect_proxy.py \
	tests/tools/badupstream.py tests/tools/stressclient.py tests/data/config \
	$(INTEGRATION_TESTS)

include tests/unit/local.mk
include tests/host/local.mk
include tests/plugins/local.mk
include tests/netfuzz/local.mk
include tests/fuzz/local.mk

# Integration tests start real vaproxyd processes against the simulator.
TESTS += $(INTEGRATION_TESTS)
INTEGRATION_TESTS = \
	tests/integration/test_sim.py \
	tests/integration/test_proxy.py \
	tests/integration/test_tokens.py \
	tests/integration/test_listeners.py \
	tests/integration/test_h2.py \
	tests/integration/test_abuse.py \
	tests/integration/test_metrics.py \
	tests/integration/test_consistency.py \
	tests/integration/test_daemon.py \
	tests/integration/test_plugins.py \
	tests/integration/test_sdk_example.py \
	tests/integration/test_sdk_template.py \
	tests/integration/test_auth_jwt.py \
	tests/integration/test_sdk_fetch_example.py \
	tests/integration/test_lazy_libcurl.py \
	tests/integration/test_auth_methods.py \
	tests/integration/test_sinks.py \
	tests/integration/test_lifecycle.py \
	tests/integration/test_cache.py \
	tests/integration/test_persist.py \
	tests/integration/test_persist_enospc.py \
	tests/integration/test_logging.py \
	tests/integration/test_reload.py \
	tests/integration/test_reload_plugins.py \
	tests/integration/test_ops.py \
	tests/integration/test_examples.py \
	tests/integration/test_garbage.py \
	tests/integration/test_layers.py \
	tests/integration/test_license.py \
	tests/integration/test_egress_proxy.py \
	tests/integration/test_stress_short.py \
	tests/integration/test_static_cache.py \
	tests/integration/test_kv_events.py \
	tests/integration/test_agent.py \
	tests/integration/test_kubernetes_manifests.py \
	tests/integration/test_static_events.py

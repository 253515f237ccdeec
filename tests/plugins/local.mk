# Test-only plugins.  check_LTLIBRARIES are built for `make check` only;
# -rpath makes libtool build real shared objects, not static archives.
TEST_PLUGIN_CPPFLAGS = -I$(top_srcdir)/include
TEST_PLUGIN_CFLAGS = -std=gnu11 -Wall -fvisibility=hidden
TEST_PLUGIN_LDFLAGS = -module -avoid-version $(VP_PLUGIN_LDFLAGS) -rpath $(abs_builddir)/tests/plugins

check_LTLIBRARIES += tests/plugins/trace.la tests/plugins/bad_magic.la \
	tests/plugins/abi_major.la tests/plugins/abi_minor.la \
	tests/plugins/init_fails.la tests/plugins/no_descriptor.la \
	tests/plugins/undefined_symbol.la tests/plugins/dup_never.la \
	tests/plugins/reconf.la tests/plugins/abi_old.la \
	tests/plugins/abi_target.la tests/plugins/keyed.la \
	tests/plugins/schema10.la tests/plugins/schema12.la

tests_plugins_trace_la_SOURCES = tests/plugins/trace.c
tests_plugins_trace_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS)
tests_plugins_trace_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_trace_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_bad_magic_la_SOURCES = tests/plugins/bad_magic.c
tests_plugins_bad_magic_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS)
tests_plugins_bad_magic_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_bad_magic_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_abi_major_la_SOURCES = tests/plugins/abi_major.c
tests_plugins_abi_major_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS)
tests_plugins_abi_major_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_abi_major_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_abi_minor_la_SOURCES = tests/plugins/abi_minor.c
tests_plugins_abi_minor_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS)
tests_plugins_abi_minor_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_abi_minor_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_init_fails_la_SOURCES = tests/plugins/init_fails.c
tests_plugins_init_fails_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS)
tests_plugins_init_fails_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_init_fails_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_dup_never_la_SOURCES = tests/plugins/dup_never.c
tests_plugins_dup_never_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS)
tests_plugins_dup_never_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_dup_never_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_reconf_la_SOURCES = tests/plugins/reconf.c
tests_plugins_reconf_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS)
tests_plugins_reconf_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_reconf_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_abi_old_la_SOURCES = tests/plugins/abi_old.c tests/plugins/layout_1_0.h
tests_plugins_abi_old_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS)
tests_plugins_abi_old_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_abi_old_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_keyed_la_SOURCES = tests/plugins/keyed.c
tests_plugins_keyed_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS)
tests_plugins_keyed_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_keyed_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
# Built with this SDK's headers for ABI 1.1 daemons.
tests_plugins_abi_target_la_SOURCES = tests/plugins/abi_target.c
tests_plugins_abi_target_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS) \
	-DVP_TARGET_ABI_MINOR=1
tests_plugins_abi_target_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_abi_target_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
# Exports no descriptor at all, so no export filter either.
tests_plugins_no_descriptor_la_SOURCES = tests/plugins/no_descriptor.c
tests_plugins_no_descriptor_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_no_descriptor_la_LDFLAGS = -module -avoid-version -shared \
	-rpath $(abs_builddir)/tests/plugins
# Deliberately links with an unresolved symbol (no --no-undefined) and
# with the linker's default lazy binding, as most plugins are built: the
# loader must bind it at once and refuse it, naming the symbol.
tests_plugins_undefined_symbol_la_SOURCES = tests/plugins/undefined_symbol.c
tests_plugins_undefined_symbol_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS)
tests_plugins_undefined_symbol_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_undefined_symbol_la_LDFLAGS = -module -avoid-version -shared \
	-Wl,-z,lazy -rpath $(abs_builddir)/tests/plugins
# One schema in two layouts: schema10 stands in for a plugin built with
# the ABI 1.0 headers, schema12 is built with these.
tests_plugins_schema10_la_SOURCES = tests/plugins/schema_wide.c tests/plugins/schema_wide.h \
	tests/plugins/layout_1_0.h
tests_plugins_schema10_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS) -DSCHEMA_WIDE_1_0
tests_plugins_schema10_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_schema10_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_schema12_la_SOURCES = tests/plugins/schema_wide.c tests/plugins/schema_wide.h
tests_plugins_schema12_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS)
tests_plugins_schema12_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_schema12_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

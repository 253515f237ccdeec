# The mock host's own tools.  mock_check_config prints the mock's verdict
# on a plugin configuration, which test_plugins.py holds against
# vaproxyd --check-config's.
check_PROGRAMS += tests/host/mock_check_config
tests_host_mock_check_config_SOURCES = tests/host/mock_check_config.c \
	tests/host/mock_host.c tests/host/mock_host.h
tests_host_mock_check_config_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/host
tests_host_mock_check_config_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
tests_host_mock_check_config_LDADD = $(JSONC_LIBS) -ldl

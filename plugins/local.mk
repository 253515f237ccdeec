# Shipped plugins, one folder each; the module name is <kind>_<name> and
# equals the .so's name.  They link against nothing of ours.
PLUGIN_CPPFLAGS = -I$(top_srcdir)/include
PLUGIN_CFLAGS = -std=gnu11 $(VP_WARN_CFLAGS) -fvisibility=hidden
PLUGIN_LDFLAGS = -module -avoid-version $(VP_PLUGIN_LDFLAGS)

plugin_LTLIBRARIES += plugins/auth_token_file.la
plugins_auth_token_file_la_SOURCES = plugins/auth_token_file/token_file.c
plugins_auth_token_file_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_auth_token_file_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_auth_token_file_la_LDFLAGS = $(PLUGIN_LDFLAGS)

plugin_LTLIBRARIES += plugins/consistency_vault.la
plugins_consistency_vault_la_SOURCES = \
	plugins/consistency_vault/consistency.c \
	plugins/consistency_vault/index_state.c \
	plugins/consistency_vault/index_state.h
plugins_consistency_vault_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_consistency_vault_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_consistency_vault_la_LDFLAGS = $(PLUGIN_LDFLAGS)

plugin_LTLIBRARIES += plugins/auth_approle.la
plugins_auth_approle_la_SOURCES = plugins/auth_approle/approle.c
plugins_auth_approle_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_auth_approle_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_auth_approle_la_LDFLAGS = $(PLUGIN_LDFLAGS)

plugin_LTLIBRARIES += plugins/auth_kubernetes.la
plugins_auth_kubernetes_la_SOURCES = plugins/auth_kubernetes/kubernetes.c
plugins_auth_kubernetes_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_auth_kubernetes_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_auth_kubernetes_la_LDFLAGS = $(PLUGIN_LDFLAGS)

plugin_LTLIBRARIES += plugins/auth_cert.la
plugins_auth_cert_la_SOURCES = plugins/auth_cert/cert.c
plugins_auth_cert_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_auth_cert_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_auth_cert_la_LDFLAGS = $(PLUGIN_LDFLAGS)

plugin_LTLIBRARIES += plugins/cache_memory.la
plugins_cache_memory_la_SOURCES = plugins/cache_memory/cache_memory.c \
	plugins/cache_memory/siphash.h
plugins_cache_memory_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_cache_memory_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_cache_memory_la_LDFLAGS = $(PLUGIN_LDFLAGS)

# auth_jwt is built like a third party's plugin, against the installed SDK
# with its own Makefile (tests/integration/test_auth_jwt.py does it); its
# unit tests also run in-tree (tests/unit/local.mk).
EXTRA_DIST += plugins/auth_jwt/Makefile plugins/auth_jwt/README.md \
	plugins/auth_jwt/tests/mock_host_build.c

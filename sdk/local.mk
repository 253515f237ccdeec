# The SDK for plugin authors, and everything `make install` puts in place
# for them:
#
#   $(includedir)/vaproxy/*.h                   the public headers
#   $(libdir)/pkgconfig/vaproxy-sdk.pc          cflags, plugindir, mockhostdir
#   $(datadir)/aclocal/vaproxy-sdk.m4           VAPROXY_CHECK_SDK,
#                                               VAPROXY_CHECK_MOCKHOST
#   $(datadir)/vaproxy-sdk/mock_host.{c,h}      the mock host, as source
#   $(datadir)/vaproxy-sdk/base/duration.c      the daemon's duration parser,
#                                               which mock_host.c includes
#   $(datadir)/vaproxy-sdk/plugin/json_api.[ch] the host's JSON members
#                                               (ABI 1.2), which it includes too
#   $(datadir)/vaproxy-sdk/plugin/file_read.c   the daemon's file reader,
#                                               which mock_host.c includes
#   $(datadir)/vaproxy-sdk/plugin/login_fields.c the daemon's login setters,
#                                               which mock_host.c includes
#   $(datadir)/vaproxy-sdk/base/conf_words.c    Go's booleans, "did you mean"
#   $(datadir)/vaproxy-sdk/plugin/conf_schema.[ch] the daemon's schema checks
#                                               and their messages
#   $(datadir)/vaproxy-sdk/plugin/host_members.c the conf_* getters and file
#                                               readers of both host tables
#   $(datadir)/vaproxy-sdk/template/...         the template plugin project
#
# The mock host installed is tests/host/mock_host.[ch] itself, the one the
# in-tree plugin tests use, with the daemon's own sources it includes
# (listed above) at the relative paths it includes them by: one source of
# truth.  `make install-sdk` installs
# only these files (the integration tests stage them with DESTDIR).
vaproxyincludedir = $(includedir)/vaproxy
vaproxyinclude_HEADERS = \
	include/vaproxy/vaproxy.h include/vaproxy/version.h \
	include/vaproxy/common.h include/vaproxy/errors.h \
	include/vaproxy/plugin.h include/vaproxy/host.h \
	include/vaproxy/auth.h include/vaproxy/cache.h \
	include/vaproxy/consistency.h

pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = sdk/vaproxy-sdk.pc

aclocaldir = $(datadir)/aclocal
dist_aclocal_DATA = sdk/vaproxy-sdk.m4

vpsdkdir = $(datadir)/vaproxy-sdk
dist_vpsdk_DATA = tests/host/mock_host.c tests/host/mock_host.h
vpsdkbasedir = $(vpsdkdir)/base
vpsdkbase_DATA = core/base/duration.c core/base/conf_words.c
vpsdkplugindir = $(vpsdkdir)/plugin
vpsdkplugin_DATA = core/plugin/json_api.c core/plugin/json_api.h \
	core/plugin/file_read.c core/plugin/login_fields.c \
	core/plugin/conf_schema.c core/plugin/conf_schema.h \
	core/plugin/host_members.c

vpsdktemplatedir = $(vpsdkdir)/template
dist_vpsdktemplate_DATA = sdk/template/configure.ac \
	sdk/template/Makefile.am sdk/template/README.md
vpsdktemplatesrcdir = $(vpsdktemplatedir)/src
dist_vpsdktemplatesrc_DATA = sdk/template/src/auth_example.c
vpsdktemplatetestsdir = $(vpsdktemplatedir)/tests
dist_vpsdktemplatetests_DATA = sdk/template/tests/test_auth_example.c \
	sdk/template/tests/mock_host_build.c

install-sdk: install-vaproxyincludeHEADERS install-pkgconfigDATA \
	install-dist_aclocalDATA install-dist_vpsdkDATA install-vpsdkbaseDATA \
	install-vpsdkpluginDATA \
	install-dist_vpsdktemplateDATA install-dist_vpsdktemplatesrcDATA \
	install-dist_vpsdktemplatetestsDATA
.PHONY: install-sdk

EXTRA_DIST += sdk/vaproxy-sdk.pc.in sdk/GUIDE.md \
	sdk/example/Makefile sdk/example/example_hello.c sdk/example/README.md \
	sdk/example/example_metadata.c

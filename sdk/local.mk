# The SDK for plugin authors: public headers, the pkg-config file, and an
# example plugin that `make check` builds out of tree from the staged SDK.
vaproxyincludedir = $(includedir)/vaproxy
vaproxyinclude_HEADERS = \
	include/vaproxy/vaproxy.h include/vaproxy/version.h \
	include/vaproxy/common.h include/vaproxy/errors.h \
	include/vaproxy/plugin.h include/vaproxy/host.h \
	include/vaproxy/auth.h include/vaproxy/cache.h \
	include/vaproxy/consistency.h

pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = sdk/vaproxy-sdk.pc

EXTRA_DIST += sdk/vaproxy-sdk.pc.in sdk/GUIDE.md \
	sdk/example/Makefile sdk/example/example_hello.c sdk/example/README.md

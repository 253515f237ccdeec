# llhttp from Debian's node-llhttp sources, compiled through one-line wrapper
# files (never by absolute path: automake would write objects next to the
# system sources).  Generated code: plain -Wall, never -Werror.
noinst_LTLIBRARIES += core/libllhttp.la
core_libllhttp_la_SOURCES = core/http/llhttp/llhttp_api.c core/http/llhttp/llhttp_http.c \
	core/http/llhttp/llhttp_llhttp.c
core_libllhttp_la_CPPFLAGS = $(LLHTTP_CFLAGS) -I$(LLHTTP_SRCDIR)
core_libllhttp_la_CFLAGS = -Wall

# Everything of the daemon but main(), so unit tests link the same objects.
noinst_LTLIBRARIES += core/libvpcore.la
core_libvpcore_la_SOURCES =
include core/base/local.mk
include core/config/local.mk
include core/http/local.mk
include core/upstream/local.mk
include core/plugin/local.mk
include core/auth/local.mk
include core/cache/local.mk
include core/proxy/local.mk
include core/agent/local.mk
include core/app/local.mk

core_libvpcore_la_CPPFLAGS = $(AM_CPPFLAGS) $(LLHTTP_CFLAGS)
core_libvpcore_la_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) \
	$(JSONC_CFLAGS) $(OPENSSL_CFLAGS) $(ZLIB_CFLAGS) $(CURL_CFLAGS) \
	$(NGHTTP2_CFLAGS)
core_libvpcore_la_LIBADD = core/libllhttp.la $(UV_LIBS) \
	$(JSONC_LIBS) $(OPENSSL_LIBS) $(ZLIB_LIBS) $(LTDL_LIBS) \
	$(NGHTTP2_LIBS)

sbin_PROGRAMS += core/vaproxyd
core_vaproxyd_SOURCES = core/app/main.c
core_vaproxyd_CPPFLAGS = $(core_libvpcore_la_CPPFLAGS)
core_vaproxyd_CFLAGS = $(core_libvpcore_la_CFLAGS)
core_vaproxyd_LDADD = core/libvpcore.la

# llhttp from Debian's node-llhttp sources, compiled through one-line wrapper
# files (never by absolute path: automake would write objects next to the
# system sources).  Generated code: plain -Wall, never -Werror.
noinst_LTLIBRARIES += core/libllhttp.la
core_libllhttp_la_SOURCES = core/llhttp/llhttp_api.c core/llhttp/llhttp_http.c \
	core/llhttp/llhttp_llhttp.c
core_libllhttp_la_CPPFLAGS = $(LLHTTP_CFLAGS) -I$(LLHTTP_SRCDIR)
core_libllhttp_la_CFLAGS = -Wall

# Everything of the daemon but main(), so unit tests link the same objects.
noinst_LTLIBRARIES += core/libvpcore.la
core_libvpcore_la_SOURCES = \
	core/log.c core/log.h core/log_file.c core/log_file.h \
	core/buf.c core/buf.h \
	core/cfgtree.c core/cfgtree.h core/cfg_copy.c core/cfg_copy.h \
	core/config.c core/config.h \
	core/http_hdrs.c core/http.h \
	core/tls.c core/tls.h \
	core/server.c core/server.h \
	core/forward.c core/forward.h \
	core/plugin_loader.c core/plugin_loader.h \
	core/host_api.c core/host_api.h \
	core/chain.c core/chain.h \
	core/token_holder.c core/token_holder.h \
	core/auto_auth.c core/auto_auth.h \
	core/router.c core/router.h core/request.h core/version.h \
	core/sanitize.c core/sanitize.h \
	core/sink_file.c core/sink_file.h core/sinks.c core/sinks.h \
	core/sink_dh.c core/sink_dh.h \
	core/wrap_info.c core/wrap_info.h \
	core/textutil.c core/textutil.h \
	core/metrics.c core/metrics.h \
	core/proxy_metrics.c core/proxy_metrics.h \
	core/request_log.c core/request_log.h \
	core/cache_key.c core/cache_key.h core/lease_cache.c core/lease_cache.h \
	core/renew_timers.c core/renew_timers.h \
	core/resp_pack.c core/resp_pack.h \
	core/persist.c core/persist.h \
	core/sd_notify.c core/sd_notify.h \
	core/config_diff.c core/config_diff.h \
	core/reload_plugins.c core/reload_plugins.h \
	core/config_dump.c core/config_dump.h \
	core/daemon.c core/daemon.h
core_libvpcore_la_CPPFLAGS = $(AM_CPPFLAGS) $(LLHTTP_CFLAGS)
core_libvpcore_la_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(CURL_CFLAGS) \
	$(JSONC_CFLAGS) $(OPENSSL_CFLAGS) $(ZLIB_CFLAGS)
core_libvpcore_la_LIBADD = core/libllhttp.la $(UV_LIBS) $(CURL_LIBS) \
	$(JSONC_LIBS) $(OPENSSL_LIBS) $(ZLIB_LIBS) $(LTDL_LIBS) -lm

sbin_PROGRAMS += core/vaproxyd
core_vaproxyd_SOURCES = core/main.c
core_vaproxyd_CPPFLAGS = $(core_libvpcore_la_CPPFLAGS)
core_vaproxyd_CFLAGS = $(core_libvpcore_la_CFLAGS)
core_vaproxyd_LDADD = core/libvpcore.la

# core/proxy: routing, the plugin chain, the cache-clear API, sanitizing, request logs and metrics.
core_libvpcore_la_SOURCES += core/proxy/cache_clear.c core/proxy/cache_clear.h \
	 core/proxy/chain.c core/proxy/chain.h core/proxy/proxy_metrics.c \
	 core/proxy/proxy_metrics.h core/proxy/request_log.c \
	 core/proxy/request_log.h core/proxy/router.c core/proxy/router.h \
	 core/proxy/sanitize.c core/proxy/sanitize.h

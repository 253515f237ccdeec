# core/cache: the lease cache, its keys, renewal timers, answer packing, persistence.
core_libvpcore_la_SOURCES += core/cache/cache_key.c core/cache/cache_key.h core/cache/lease_cache.c \
	 core/cache/lease_cache.h core/cache/persist.c core/cache/persist.h \
	 core/cache/renew_timers.c core/cache/renew_timers.h \
	 core/cache/resp_pack.c core/cache/resp_pack.h

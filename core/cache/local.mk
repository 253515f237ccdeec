# core/cache: the lease cache, its keys, renewal timers, answer packing, persistence.
core_libvpcore_la_SOURCES += core/cache/cache_key.c core/cache/cache_key.h core/cache/lease_cache.c \
	 core/cache/lease_cache.h core/cache/persist.h \
	 core/cache/renew_timers.c core/cache/renew_timers.h \
	 core/cache/resp_pack.c core/cache/resp_pack.h \
	 core/cache/kv_events.c core/cache/kv_events.h
# core/cache/persist: the encrypted persistent store, one job per file
# (the list and the order they depend on each other: persist_internal.h).
core_libvpcore_la_SOURCES += core/cache/persist/persist_internal.h \
	 core/cache/persist/persist_msg.c core/cache/persist/persist_config.c \
	 core/cache/persist/codec.c core/cache/persist/crypto.c \
	 core/cache/persist/key_material.c core/cache/persist/entry_index.c \
	 core/cache/persist/record_io.c core/cache/persist/replay.c \
	 core/cache/persist/compact.c core/cache/persist/retry.c \
	 core/cache/persist/store.c \
	 core/cache/persist/restore.c core/cache/persist/append.c

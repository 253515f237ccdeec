# core/cache: the lease cache, its keys, renewal timers, answer packing, persistence.
core_libvpcore_la_SOURCES += core/cache/cache_key.c core/cache/cache_key.h core/cache/lease_cache.c \
	 core/cache/lease_cache.h core/cache/persist.h \
	 core/cache/renew_timers.c core/cache/renew_timers.h \
	 core/cache/resp_pack.c core/cache/resp_pack.h \
	 core/cache/hot_answers.c core/cache/hot_answers.h \
	 core/cache/deflate_pack.c core/cache/deflate_pack.h \
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
# The static secret cache (KV answers per token set), one job per file
# (static_cache_impl.h lists them).
core_libvpcore_la_SOURCES += core/cache/static_cache.c core/cache/static_cache.h \
	 core/cache/static_cache_impl.h core/cache/static_paths.c \
	 core/cache/static_paths.h core/cache/static_tokens.c \
	 core/cache/static_tokens.h core/cache/static_table.c \
	 core/cache/static_table.h core/cache/static_calls.c \
	 core/cache/static_refresh.c core/cache/static_store.c core/cache/static_mounts.c \
	 core/cache/capability_check.c core/cache/static_persist.c \
	 core/cache/static_pack.c core/cache/static_pack.h

# core/upstream: the client side: what is sent to Vault and how.
core_libvpcore_la_SOURCES += core/upstream/forward.c core/upstream/forward.h

# core/upstream: the client side: what is sent to Vault and how.
core_libvpcore_la_SOURCES += core/upstream/forward.c core/upstream/forward.h \
	core/upstream/client.c core/upstream/client.h \
	core/upstream/conn.c core/upstream/conn.h \
	core/upstream/egress.c core/upstream/egress.h \
	core/upstream/response.c core/upstream/response.h \
	core/upstream/tls_client.c core/upstream/tls_client.h \
	core/upstream/url.c core/upstream/url.h \
	core/upstream/ws_client.c core/upstream/ws_client.h \
	core/upstream/ws_frame.c core/upstream/ws_frame.h

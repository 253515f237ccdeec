# core/http: header lists and the header policy, status texts, TLS, the
# listeners and their connections (the server side), HTTP/2 with nghttp2.
core_libvpcore_la_SOURCES += core/http/age_list.h core/http/h2_conn.c \
	 core/http/h2_conn.h core/http/h2_ids.c core/http/h2_ids.h core/http/h2_pool.c core/http/h2_pool.h core/http/h2_session.c core/http/h2_stream.c core/http/h2_stream.h core/http/hdrs.c core/http/hdrs.h \
	 core/http/hdr_policy.c core/http/hdr_policy.h core/http/http.h \
	 core/http/server.c core/http/server.h core/http/status.c \
	 core/http/status.h core/http/target_bytes.c core/http/target_bytes.h \
	 core/http/tls.c core/http/tls.h

# core/http: header lists and the header policy, status texts, TLS, the
# listeners and their connections (the server side).
core_libvpcore_la_SOURCES += core/http/hdrs.c core/http/hdrs.h \
	 core/http/hdr_policy.c core/http/hdr_policy.h core/http/http.h \
	 core/http/server.c core/http/server.h core/http/status.c \
	 core/http/status.h core/http/tls.c core/http/tls.h

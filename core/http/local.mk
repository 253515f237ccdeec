# core/http: header lists, TLS, the listeners and their connections (the server side).
core_libvpcore_la_SOURCES += core/http/http.h core/http/http_hdrs.c core/http/server.c \
	 core/http/server.h core/http/tls.c core/http/tls.h

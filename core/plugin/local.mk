# core/plugin: the host side of the SDK: loader, host table, instances and
# their configuration, login requests, the request API, and the 1.2
# services: timers, reauth, fetch (libcurl, loaded at the first fetch) and
# the JSON API.
core_libvpcore_la_SOURCES += core/plugin/host_table.c core/plugin/host_table.h \
	 core/plugin/file_read.c core/plugin/file_read.h \
	 core/plugin/login.c core/plugin/login.h core/plugin/login_fields.c \
	 core/plugin/plugin_conf.c core/plugin/plugin_conf.h \
	 core/plugin/conf_schema.c core/plugin/conf_schema.h \
	 core/plugin/plugin_describe.c core/plugin/plugin_describe.h \
	 core/plugin/plugin_instance.c core/plugin/plugin_instance.h \
	 core/plugin/plugin_loader.c core/plugin/plugin_loader.h \
	 core/plugin/plugin_layout.c core/plugin/plugin_layout.h \
	 core/plugin/request.c core/plugin/request.h \
	 core/plugin/timers.c core/plugin/timers.h \
	 core/plugin/reauth.c core/plugin/reauth.h \
	 core/plugin/fetch.c core/plugin/fetch.h \
	 core/plugin/curl_api.c core/plugin/curl_api.h \
	 core/plugin/json_api.c core/plugin/json_api.h
EXTRA_DIST += core/plugin/host_members.c

# core/plugin: the host side of the SDK: loader, host table, instances, request API.
core_libvpcore_la_SOURCES += core/plugin/host_api.c core/plugin/host_api.h \
	 core/plugin/plugin_loader.c core/plugin/plugin_loader.h \
	 core/plugin/request.h

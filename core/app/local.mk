# core/app: the daemon: wiring, reload, systemd notify (may use every layer).
core_libvpcore_la_SOURCES += core/app/agent_mode.c core/app/agent_mode.h \
	 core/app/daemon.c core/app/daemon.h core/app/reload_plugins.c \
	 core/app/reload_plugins.h core/app/sd_notify.c core/app/sd_notify.h

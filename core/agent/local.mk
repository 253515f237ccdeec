# core/agent: agent mode: the runner that renders templates from secrets,
# destination files, template commands, the process supervisor.
core_libvpcore_la_SOURCES += core/agent/command.c core/agent/command.h \
	 core/agent/dest_file.c core/agent/dest_file.h core/agent/engine.h \
	 core/agent/runner.c core/agent/runner.h core/agent/schedule.c \
	 core/agent/schedule.h core/agent/supervisor.c \
	 core/agent/supervisor.h

# core/config: the HCL/JSON reader, the key table, the typed config, reload
# comparison and dump.
core_libvpcore_la_SOURCES += core/config/cfg_copy.c core/config/cfg_copy.h core/config/cfgtree.c \
	 core/config/cfgtree.h core/config/config.c core/config/config.h \
	 core/config/config_keys.c core/config/config_keys.h \
	 core/config/config_diff.c core/config/config_diff.h \
	 core/config/config_dump.c core/config/config_dump.h core/config/config_agent.h

# core/auth: auto-auth, the token holder, wrap_info and sinks.
core_libvpcore_la_SOURCES += core/auth/auto_auth.c core/auth/auto_auth.h core/auth/sink_dh.c \
	 core/auth/sink_dh.h core/auth/sink_file.c core/auth/sink_file.h \
	 core/auth/sinks.c core/auth/sinks.h core/auth/token_holder.c \
	 core/auth/token_holder.h core/auth/wrap_info.c core/auth/wrap_info.h

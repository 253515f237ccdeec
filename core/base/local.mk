# core/base: backoff and jitter, buffers, text helpers, durations, secret
# memory, logging, log files, metrics, user and group ids (uses no other
# layer).
core_libvpcore_la_SOURCES += core/base/backoff.c core/base/backoff.h \
	 core/base/buf.c core/base/buf.h \
	 core/base/conf_words.c core/base/conf_words.h \
	 core/base/duration.c core/base/duration.h core/base/log.c core/base/log.h \
	 core/base/log_file.c core/base/log_file.h core/base/metrics.c \
	 core/base/metrics.h core/base/secmem.c core/base/secmem.h \
	 core/base/sys_ids.c core/base/sys_ids.h \
	 core/base/textutil.c core/base/textutil.h core/base/version.h

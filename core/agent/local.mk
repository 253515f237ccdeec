# core/agent: Vault Agent's template language and what renders with it.
# The template language (tmpl_*): lexer, parser, compiler, evaluator,
# values, functions, printf, JSON/YAML.
core_libvpcore_la_SOURCES += core/agent/tmpl.c core/agent/tmpl.h \
	 core/agent/tmpl_compile.c core/agent/tmpl_compile.h \
	 core/agent/tmpl_env.c core/agent/tmpl_env.h \
	 core/agent/tmpl_eval.c core/agent/tmpl_eval.h \
	 core/agent/tmpl_funcs.c core/agent/tmpl_funcs.h \
	 core/agent/tmpl_json.c core/agent/tmpl_json.h \
	 core/agent/tmpl_lex.c core/agent/tmpl_lex.h \
	 core/agent/tmpl_parse.c core/agent/tmpl_parse.h \
	 core/agent/tmpl_pos.c core/agent/tmpl_pos.h \
	 core/agent/tmpl_printf.c core/agent/tmpl_printf.h \
	 core/agent/tmpl_value.c core/agent/tmpl_value.h
# Agent mode around the language: the runner that renders templates from
# secrets, destination files, template commands, the process supervisor.
core_libvpcore_la_SOURCES += core/agent/command.c core/agent/command.h \
	 core/agent/dest_file.c core/agent/dest_file.h core/agent/engine.h \
	 core/agent/engine_tmpl.c core/agent/engine_tmpl.h \
	 core/agent/runner.c core/agent/runner.h core/agent/schedule.c \
	 core/agent/schedule.h core/agent/supervisor.c \
	 core/agent/supervisor.h

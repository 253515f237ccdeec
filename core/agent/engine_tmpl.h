/* The template library (tmpl.h) as the runner's engine (engine.h):
 * secret, secrets and pkiCert are answered from the runner's fetched
 * secrets, file reads stay inside sandbox_path when one is set, env reads
 * vaproxyd's environment.
 *
 * Ownership: the engine is a static table. */
#ifndef VPD_AGENT_ENGINE_TMPL_H
#define VPD_AGENT_ENGINE_TMPL_H

#include "agent/engine.h"

extern const vpd_agent_engine vpd_agent_tmpl_engine;

#endif

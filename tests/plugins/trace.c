/* Test plugin "trace": a consistency policy that records every hook it
 * runs as an X-Trace response header ("A:request", "A:response"), so tests
 * can read the order of the chain from the answer.  Request headers steer
 * it: "X-Trace-Answer: A" makes instance A answer early;
 * "X-Trace-Retry: A:3" makes instance A ask for a retry until the request
 * has been sent 3 times; "X-Trace-Add: A:Name:value" makes instance A add
 * the request header "Name: value" for the upstream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vaproxy/vaproxy.h>

static const vp_conf_field_t trace_schema[] = {
    VP_CONF_FIELD("label", VP_CONF_STRING, VP_CONF_REQUIRED, NULL,
                  "name in X-Trace"),
    VP_CONF_END,
};

static const char *
label_of(vp_instance_t *inst)
{
    const char *label = "?";
    inst->host->conf_string(inst, "label", &label);
    return label;
}

static void
record(vp_instance_t *inst, vp_req_t *req, const char *what)
{
    char text[128];
    snprintf(text, sizeof text, "%s:%s", label_of(inst), what);
    inst->host->resp_header_add(req, "X-Trace", text);
}

static vp_status_t
trace_on_request(vp_instance_t *inst, vp_req_t *req)
{
    const vp_host_api_t *host = inst->host;
    record(inst, req, "request");
    const char *answer = host->req_header(req, "X-Trace-Answer", 0);
    if (answer && strcmp(answer, label_of(inst)) == 0) {
        char body[128];
        int n = snprintf(body, sizeof body, "{\"answered_by\":\"%s\"}",
                         label_of(inst));
        if (host->req_respond(req, 200, "application/json", body, (size_t)n) !=
            0)
            return VP_ERROR;
        return VP_DONE;
    }
    const char *label = label_of(inst);
    size_t len = strlen(label);
    for (size_t i = 0; (answer = host->req_header(req, "X-Trace-Add", i));
         i++) {
        if (strncmp(answer, label, len) != 0 || answer[len] != ':')
            continue;
        const char *colon = strchr(answer + len + 1, ':');
        if (!colon)
            continue;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(colon - answer - len - 1),
                 answer + len + 1);
        if (host->req_header_add(req, name, colon + 1) != 0)
            return VP_ERROR;
    }
    return VP_CONTINUE;
}

static vp_status_t
trace_on_response(vp_instance_t *inst, vp_req_t *req)
{
    const vp_host_api_t *host = inst->host;
    char what[64];
    snprintf(what, sizeof what, "response%d", host->req_attempts(req));
    record(inst, req, what);
    const char *retry = host->req_header(req, "X-Trace-Retry", 0);
    const char *label = label_of(inst);
    size_t len = strlen(label);
    if (retry && strncmp(retry, label, len) == 0 && retry[len] == ':' &&
        host->req_attempts(req) < atoi(retry + len + 1))
        return VP_RETRY;
    return VP_CONTINUE;
}

static const vp_consistency_ops_t trace_ops = {
    .size = sizeof(vp_consistency_ops_t),
    .on_request = trace_on_request,
    .on_response = trace_on_response,
};

static const vp_provide_t trace_provides[] = {
    {VP_KIND_CONSISTENCY, "trace", &trace_ops, trace_schema},
    {0, NULL, NULL, NULL},
};

VP_PLUGIN_DEFINE(trace) = {
    VP_PLUGIN_HEADER(trace),
    .version = "test",
    .summary = "records the order of chain hooks",
    .provides = trace_provides,
};

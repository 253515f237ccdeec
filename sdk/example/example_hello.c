/* An example vaproxyd plugin, built out of tree against the installed SDK:
 *
 *     make PKG_CONFIG_PATH=...   (see README.md)
 *
 * It provides the consistency policy "hello", which
 *   - answers GET /v1/example/hello itself, without going upstream, and
 *   - adds "X-Example: <greeting>" to every other answer.
 * Enable it in vaproxyd's config with:
 *
 *     plugin "consistency" "hello" {
 *       config = { greeting = "hi there" }
 *     }
 */
#include <stdio.h>
#include <string.h>

#include <vaproxy/vaproxy.h>

/* The keys this implementation accepts; the daemon rejects any other key
 * with the config file's name and line before create runs. */
static const vp_conf_field_t hello_schema[] = {
    VP_CONF_FIELD("greeting", VP_CONF_STRING, 0, "hello",
                  "text of the X-Example header"),
    VP_CONF_END,
};

static vp_status_t
hello_on_request(vp_instance_t *inst, vp_req_t *req)
{
    const vp_host_api_t *host = inst->host;
    if (strcmp(host->req_method(req), "GET") != 0 ||
        strcmp(host->req_path(req), "/v1/example/hello") != 0)
        return VP_CONTINUE;
    const char *greeting = "hello";
    host->conf_string(inst, "greeting", &greeting);
    char body[256];
    int n = snprintf(body, sizeof body, "{\"data\":{\"greeting\":\"%s\"}}",
                     greeting);
    if (n < 0 || (size_t)n >= sizeof body)
        return VP_ERROR;
    /* The host copies the body; VP_DONE skips the upstream. */
    if (host->req_respond(req, 200, "application/json", body, (size_t)n) != 0)
        return VP_ERROR;
    return VP_DONE;
}

static vp_status_t
hello_on_response(vp_instance_t *inst, vp_req_t *req)
{
    const char *greeting = "hello";
    inst->host->conf_string(inst, "greeting", &greeting);
    return inst->host->resp_header_add(req, "X-Example", greeting) == 0
               ? VP_CONTINUE
               : VP_ERROR;
}

static const vp_consistency_ops_t hello_ops = {
    .size = sizeof(vp_consistency_ops_t),
    .on_request = hello_on_request,
    .on_response = hello_on_response,
};

static const vp_provide_t hello_provides[] = {
    {VP_KIND_CONSISTENCY, "hello", &hello_ops, hello_schema},
    {0, NULL, NULL, NULL},
};

/* The module name must equal the file name: example_hello.so. */
VP_PLUGIN_DEFINE(example_hello) = {
    VP_PLUGIN_HEADER(example_hello),
    .version = "1.0",
    .summary = "example: answers /v1/example/hello, tags every answer",
    .provides = hello_provides,
};

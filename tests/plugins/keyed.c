/* Test plugin "keyed": implementations whose schemas flag keys secret by
 * VP_CONF_SECRET under names no name rule would catch (pin, blob,
 * passphrase), so tests see that --check-config -v redacts by the flag.
 *
 *   - consistency "keyed": keys label, pin (secret), blob (secret);
 *   - cache "keyed_store": a third-party store that keeps nothing (every
 *     lookup misses), keys slots (int, required) and passphrase (secret),
 *     so tests see the cache block checked against its schema and handed
 *     to it; create logs the slots it was given;
 *   - auth "keyed_wait": declines every login (VP_DECLINED, "waiting for
 *     the credential"), so tests see a declined login is no failure. */
#include <vaproxy/vaproxy.h>

static const vp_conf_field_t policy_schema[] = {
    VP_CONF_FIELD("label", VP_CONF_STRING, 0, NULL, "shown in clear"),
    VP_CONF_FIELD("pin", VP_CONF_STRING, VP_CONF_SECRET, NULL,
                  "redacted by the flag"),
    VP_CONF_FIELD("blob", VP_CONF_STRING, VP_CONF_SECRET, NULL,
                  "redacted by the flag"),
    VP_CONF_END,
};

static vp_status_t
pass(vp_instance_t *inst, vp_req_t *req)
{
    (void)inst;
    (void)req;
    return VP_CONTINUE;
}

static const vp_consistency_ops_t policy_ops = {.size = sizeof policy_ops,
                                                .on_request = pass};

static const vp_conf_field_t store_schema[] = {
    VP_CONF_FIELD("slots", VP_CONF_INT, VP_CONF_REQUIRED, NULL,
                  "how many entries"),
    VP_CONF_FIELD("passphrase", VP_CONF_STRING, VP_CONF_SECRET, NULL,
                  "redacted"),
    VP_CONF_END,
};

static int
store_create(vp_instance_t *inst)
{
    int64_t slots = 0;
    if (inst->host->conf_int(inst, "slots", &slots) != 0 || slots < 1) {
        inst->host->set_error(inst, "slots must be at least 1");
        return VP_EINVAL;
    }
    inst->host->log(inst, VP_LOG_INFO, "keyed_store: %lld slots",
                    (long long)slots);
    return 0;
}

static vp_status_t
store_lookup(vp_instance_t *inst, const char *id, vp_cache_visit_fn visit,
             void *arg)
{
    (void)inst;
    (void)id;
    (void)visit;
    (void)arg;
    return VP_DECLINED;
}

static vp_status_t
store_store(vp_instance_t *inst, const vp_cache_entry_t *entry)
{
    (void)inst;
    (void)entry;
    return VP_DECLINED;
}

static int
store_find(vp_instance_t *inst, const vp_cache_selector_t *sel,
           vp_cache_visit_fn visit, void *arg)
{
    (void)inst;
    (void)sel;
    (void)visit;
    (void)arg;
    return 0;
}

static int
store_evict(vp_instance_t *inst, const vp_cache_selector_t *sel)
{
    (void)inst;
    (void)sel;
    return 0;
}

static const vp_cache_ops_t store_ops = {
    .size = sizeof store_ops,
    .create = store_create,
    .lookup = store_lookup,
    .store = store_store,
    .find = store_find,
    .evict = store_evict,
};

static vp_status_t
wait_login_begin(vp_instance_t *inst, vp_login_t *login)
{
    (void)login;
    inst->host->set_error(inst, "waiting for the credential");
    return VP_DECLINED;
}

static const vp_auth_ops_t wait_ops = {.size = sizeof wait_ops,
                                       .login_begin = wait_login_begin};

static const vp_provide_t provides[] = {
    {VP_KIND_AUTH, "keyed_wait", &wait_ops, NULL},
    {VP_KIND_CONSISTENCY, "keyed", &policy_ops, policy_schema},
    {VP_KIND_CACHE, "keyed_store", &store_ops, store_schema},
    {0, NULL, NULL, NULL},
};

VP_PLUGIN_DEFINE(keyed) = {
    VP_PLUGIN_HEADER(keyed),
    .version = "test",
    .summary = "schemas with secret keys, and a cache store",
    .provides = provides,
};

/* The typed configuration: Vault Proxy's keys (vaproxyd.hcl(5)), its merge
 * rules (a later file's block replaces an earlier one, later scalars win)
 * and its validation (the checks Vault Proxy makes before it starts),
 * read from vpd_cfg trees.
 *
 * Unlike Vault, which silently ignores unknown keys, every block here is
 * checked against the keys Vault Proxy knows: a typo is an error naming the
 * file, the line and the closest known key.  Keys that Vault's shared
 * parsers accept but the proxy never uses are accepted and ignored, so any
 * configuration Vault Proxy loads also loads here.  The contents of an auth
 * method's or a sink's `config` map and of `cache` are left to the plugins'
 * schemas.
 *
 * Each file is read straight into the accumulating config: a block found
 * in a later file replaces the earlier one wholesale (Config.Merge), which
 * is the same as parsing every file apart and merging, since any error
 * aborts the whole load. */
#include "autoconf.h"

#include "config/config.h"
#include "config/config_keys.h"
#include "base/textutil.h"

#include "base/log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <sys/stat.h>

#define DEFAULT_VAULT_ADDRESS "https://127.0.0.1:8200"
#define DEFAULT_TCP_ADDRESS "127.0.0.1:8200"
#define DEFAULT_NUM_RETRIES 12
#define DEFAULT_MIN_BACKOFF_MS 1000u
#define DEFAULT_MAX_BACKOFF_MS (5u * 60u * 1000u)
#define DEFAULT_MAX_HEADER_BYTES (64u * 1024u)
#define DEFAULT_MAX_BODY_BYTES (32u * 1024u * 1024u)
#define DEFAULT_MAX_CONNECTIONS 4096u
#define DEFAULT_READ_TIMEOUT_MS (30u * 1000u)
#define DEFAULT_IDLE_TIMEOUT_MS (5u * 60u * 1000u)
#define DEFAULT_READ_HEADER_TIMEOUT_MS (10u * 1000u)

/* ---- errors ------------------------------------------------------------- */

typedef struct {
    char *err;
    size_t err_len;
} cctx;

/* Writes "FILE:LINE: msg" (or "FILE: msg" without a line). */
__attribute__((format(printf, 4, 5))) static int
cfail(cctx *c, const char *file, int line, const char *fmt, ...)
{
    if (!c->err || !c->err_len)
        return -1;
    int n = line > 0 ? snprintf(c->err, c->err_len, "%s:%d: ", file, line)
                     : snprintf(c->err, c->err_len, "%s: ", file);
    if (n >= 0 && (size_t)n < c->err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->err_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    /* One line, whatever the pieces contained. */
    for (char *p = c->err; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return -1;
}

/* The block being read, for messages: "listener \"tcp\"", "vault", ...;
 * NULL at the top level. */
typedef struct {
    cctx *c;
    const char *name;
    const char *file;
} blk;

static int key_fail(blk *b, const vpd_cfg_member *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "FILE:LINE: BLOCK: KEY: what". */
static int
key_fail(blk *b, const vpd_cfg_member *m, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (b->name)
        return cfail(b->c, b->file, m->line, "%s: %s: %s", b->name,
                     vpd_msg_text(m->key), what);
    return cfail(b->c, b->file, m->line, "%s: %s", vpd_msg_text(m->key), what);
}

static int
type_fail(blk *b, const vpd_cfg_member *m, const char *expected)
{
    return key_fail(b, m, "expected %s, got %s", expected,
                    vpd_cfg_a_type(m->value));
}

/* ---- key tables --------------------------------------------------------- */

/* The tables are in config_keys.c; a block's keys are found by its id. */
typedef vpd_config_key keydef;

#define BLOCK_KEYS(id) vpd_config_blocks[id].keys, vpd_config_blocks[id].n_keys

static int
unknown_key(blk *b, const vpd_cfg_member *m, const keydef *defs, size_t n)
{
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < n; i++) {
        size_t d = vpd_edit_distance(m->key, defs[i].name);
        if (d < best_d) {
            best_d = d;
            best = defs[i].name;
        }
    }
    char in[160] = "";
    if (b->name)
        snprintf(in, sizeof(in), " in %s", b->name);
    if (best)
        return cfail(b->c, b->file, m->line,
                     "unknown key \"%s\"%s (did you mean \"%s\"?)",
                     vpd_msg_text(m->key), in, best);
    return cfail(b->c, b->file, m->line, "unknown key \"%s\"%s",
                 vpd_msg_text(m->key), in);
}

static const keydef *
find_key(const keydef *defs, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(defs[i].name, key) == 0)
            return &defs[i];
    return NULL;
}

static int
get_str(blk *b, const vpd_cfg_member *m, char **dst)
{
    const vpd_cfg_node *v = m->value;
    if (v->type != VPD_CFG_STRING && v->type != VPD_CFG_NUMBER)
        return type_fail(b, m, "a string");
    char *s = NULL;
    if (v->str && v->str[0]) {
        s = strdup(v->str);
        if (!s)
            return key_fail(b, m, "out of memory");
    }
    free(*dst);
    *dst = s;
    return 0;
}

static int
get_bool(blk *b, const vpd_cfg_member *m, bool *dst)
{
    if (m->value->type != VPD_CFG_BOOL)
        return type_fail(b, m, "a bool");
    *dst = m->value->boolean;
    return 0;
}

/* parseutil.ParseBool: a bool, a bool-string or a number. */
static int
get_rbool(blk *b, const vpd_cfg_member *m, bool *dst)
{
    const vpd_cfg_node *v = m->value;
    switch (v->type) {
    case VPD_CFG_BOOL:
        *dst = v->boolean;
        return 0;
    case VPD_CFG_NUMBER:
        *dst = v->is_float ? v->fnum != 0 : v->num != 0;
        return 0;
    case VPD_CFG_STRING:
        if (vpd_parse_go_bool(v->str, dst) == 0)
            return 0;
        return key_fail(b, m, "expected a bool, got \"%s\"",
                        vpd_msg_text(v->str));
    default:
        return type_fail(b, m, "a bool");
    }
}

/* An integer, or a string holding a decimal one (HCL decodes both). */
static int
get_int(blk *b, const vpd_cfg_member *m, int64_t *dst)
{
    const vpd_cfg_node *v = m->value;
    if (v->type == VPD_CFG_NUMBER && !v->is_float) {
        *dst = v->num;
        return 0;
    }
    if (v->type == VPD_CFG_STRING) {
        char *end = NULL;
        errno = 0;
        long long n = strtoll(v->str, &end, 10);
        if (v->str[0] && *end == '\0' && errno == 0) {
            *dst = n;
            return 0;
        }
        return key_fail(b, m, "expected an integer, got \"%s\"",
                        vpd_msg_text(v->str));
    }
    return type_fail(b, m, "an integer");
}

/* parseutil.ParseDurationSecond: a number of seconds or a duration
 * string. */
static int
get_dur(blk *b, const vpd_cfg_member *m, uint64_t *dst)
{
    const vpd_cfg_node *v = m->value;
    if (v->type == VPD_CFG_NUMBER) {
        double secs = v->is_float ? v->fnum : (double)v->num;
        if (secs < 0 || secs > 9.2e12)
            return key_fail(b, m, "duration out of range");
        *dst = v->is_float ? (uint64_t)(v->fnum * 1000.0)
                           : (uint64_t)v->num * 1000u;
        return 0;
    }
    if (v->type == VPD_CFG_STRING) {
        if (vpd_duration_parse(v->str, dst) == 0)
            return 0;
        return key_fail(b, m, "invalid duration \"%s\"", vpd_msg_text(v->str));
    }
    return type_fail(b, m, "a duration");
}

static int
get_obj(blk *b, const vpd_cfg_member *m, const vpd_cfg_node **dst)
{
    if (m->value->type != VPD_CFG_OBJECT)
        return type_fail(b, m, "an object");
    *dst = m->value;
    return 0;
}

/* Reads every member of body that the table maps to a field of base;
 * VPD_READ_CUSTOM members are left to the caller.  A repeated scalar key: the
 * last one wins, as in HCL decoding. */
static int
apply_keys(blk *b, const vpd_cfg_node *body, const keydef *defs, size_t n,
           void *base)
{
    char *p = base;
    for (size_t i = 0; i < body->n_members; i++) {
        const vpd_cfg_member *m = &body->members[i];
        const keydef *d = find_key(defs, n, m->key);
        if (!d)
            return unknown_key(b, m, defs, n);
        int rc = 0;
        int64_t scratch_i;
        uint64_t scratch_u;
        char *scratch_s = NULL;
        switch (d->read) {
        case VPD_READ_STR:
            rc = get_str(b, m, (char **)(void *)(p + d->off));
            break;
        case VPD_READ_BOOL:
            rc = get_bool(b, m, (bool *)(void *)(p + d->off));
            break;
        case VPD_READ_RBOOL:
            rc = get_rbool(b, m, (bool *)(void *)(p + d->off));
            break;
        case VPD_READ_DUR:
            rc = get_dur(b, m, (uint64_t *)(void *)(p + d->off));
            break;
        case VPD_READ_OBJ:
            rc = get_obj(b, m, (const vpd_cfg_node **)(void *)(p + d->off));
            break;
        case VPD_READ_INT_CHK:
            rc = get_int(b, m, &scratch_i);
            break;
        case VPD_READ_DUR_CHK:
            rc = get_dur(b, m, &scratch_u);
            break;
        case VPD_READ_STR_CHK:
            rc = get_str(b, m, &scratch_s);
            free(scratch_s);
            break;
        case VPD_READ_IGNORE:
        case VPD_READ_CUSTOM:
            break;
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- block instances ---------------------------------------------------- */

/* One written block: `listener "tcp" {...}`, a JSON array element, ... */
typedef struct {
    const vpd_cfg_node *body;
    const char *label; /* NULL when the block had none */
    const char *file;
    int line;
} block;

typedef struct {
    block *v;
    size_t n;
} blocks;

static int
blocks_push(blk *b, blocks *out, const vpd_cfg_node *body, const char *label,
            int line)
{
    if ((out->n & (out->n + 1)) == 0 || out->n == 0) {
        block *nv = realloc(out->v, (out->n * 2 + 2) * sizeof(*nv));
        if (!nv)
            return cfail(b->c, b->file, line, "out of memory");
        out->v = nv;
    }
    out->v[out->n++] = (block){body, label, b->file, line};
    return 0;
}

static bool
is_obj_or_obj_list(const vpd_cfg_node *v)
{
    if (v->type == VPD_CFG_OBJECT)
        return true;
    if (v->type != VPD_CFG_LIST || v->n_items == 0)
        return false;
    for (size_t i = 0; i < v->n_items; i++)
        if (v->items[i]->type != VPD_CFG_OBJECT)
            return false;
    return true;
}

/* `listener "tcp" {}` arrives as {tcp: {...}} and `listener {type=...}` as
 * {type: ...}.  It is the labelled form when every member holds a block and
 * none is a key of the block itself (HCL v1's JSON flattening decides the
 * same way). */
static bool
looks_labelled(const vpd_cfg_node *o, const keydef *known, size_t n_known)
{
    if (o->n_members == 0)
        return false;
    for (size_t i = 0; i < o->n_members; i++) {
        if (!is_obj_or_obj_list(o->members[i].value))
            return false;
        if (find_key(known, n_known, o->members[i].key))
            return false;
    }
    return true;
}

static int
collect_obj(blk *b, const vpd_cfg_node *o, int line, const keydef *known,
            size_t n_known, blocks *out)
{
    if (!known || !looks_labelled(o, known, n_known))
        return blocks_push(b, out, o, NULL, line);
    for (size_t i = 0; i < o->n_members; i++) {
        const vpd_cfg_member *lm = &o->members[i];
        if (lm->value->type == VPD_CFG_OBJECT) {
            if (blocks_push(b, out, lm->value, lm->key, lm->line) != 0)
                return -1;
            continue;
        }
        for (size_t j = 0; j < lm->value->n_items; j++)
            if (blocks_push(b, out, lm->value->items[j], lm->key,
                            lm->value->items[j]->line) != 0)
                return -1;
    }
    return 0;
}

/* Every instance of the blocks written under member m: an object, or a
 * list of objects (JSON's way to repeat a block). */
static int
collect_member(blk *b, const vpd_cfg_member *m, const keydef *known,
               size_t n_known, blocks *out)
{
    const vpd_cfg_node *v = m->value;
    if (v->type == VPD_CFG_OBJECT)
        return collect_obj(b, v, m->line, known, n_known, out);
    if (v->type == VPD_CFG_LIST) {
        for (size_t i = 0; i < v->n_items; i++) {
            if (v->items[i]->type != VPD_CFG_OBJECT)
                return key_fail(b, m, "expected a block, got %s in a list",
                                vpd_cfg_a_type(v->items[i]));
            if (collect_obj(b, v->items[i], v->items[i]->line, known, n_known,
                            out) != 0)
                return -1;
        }
        return 0;
    }
    return type_fail(b, m, "a block");
}

static int
collect(blk *b, const vpd_cfg_node *body, const char *key, const keydef *known,
        size_t n_known, blocks *out)
{
    for (size_t i = 0; i < body->n_members; i++)
        if (strcmp(body->members[i].key, key) == 0 &&
            collect_member(b, &body->members[i], known, n_known, out) != 0)
            return -1;
    return 0;
}

/* At most one instance; *one is NULL when there is none. */
static int
collect_single(blk *b, const vpd_cfg_node *body, const char *key,
               const char *too_many, const block **one, blocks *store)
{
    if (collect(b, body, key, NULL, 0, store) != 0)
        return -1;
    if (store->n > 1) {
        if (b->name)
            return cfail(b->c, b->file, store->v[1].line, "%s: %s", b->name,
                         too_many);
        return cfail(b->c, b->file, store->v[1].line, "%s", too_many);
    }
    *one = store->n ? &store->v[0] : NULL;
    return 0;
}

/* ---- freeing ------------------------------------------------------------ */

static void
free_vault(vpd_vault_config *v)
{
    free(v->address);
    free(v->ca_cert);
    free(v->ca_path);
    free(v->client_cert);
    free(v->client_key);
    free(v->tls_server_name);
    free(v->namespace_);
    memset(v, 0, sizeof(*v));
}

static void
free_sink(vpd_sink_config *s)
{
    free(s->type);
    free(s->dh_type);
    free(s->dh_path);
    free(s->aad);
    free(s->aad_env_var);
}

static void
free_auto_auth(vpd_auto_auth_config *a)
{
    free(a->method.type);
    free(a->method.mount_path);
    free(a->method.namespace_);
    for (size_t i = 0; i < a->n_sinks; i++)
        free_sink(&a->sinks[i]);
    free(a->sinks);
    memset(a, 0, sizeof(*a));
}

static void
free_api_proxy(vpd_api_proxy_config *a)
{
    free(a->enforce_consistency);
    free(a->when_inconsistent);
    memset(a, 0, sizeof(*a));
}

static void
free_telemetry(vpd_telemetry_config *t)
{
    free(t->metrics_prefix);
    free(t->prefix_filter);
    memset(t, 0, sizeof(*t));
}

static void
free_listener(vpd_listener_config *l)
{
    free(l->address);
    free(l->tls_cert_file);
    free(l->tls_key_file);
    free(l->tls_min_version);
    free(l->tls_max_version);
    free(l->tls_cipher_suites);
    free(l->tls_client_ca_file);
    free(l->socket_mode);
    free(l->socket_user);
    free(l->socket_group);
}

static void free_agent(vpd_config *cfg);

void
vpd_config_free(vpd_config *cfg)
{
    if (!cfg)
        return;
    free_vault(&cfg->vault);
    free_auto_auth(&cfg->auto_auth);
    free_api_proxy(&cfg->api_proxy);
    free_telemetry(&cfg->telemetry_conf);
    for (size_t i = 0; i < cfg->n_listeners; i++)
        free_listener(&cfg->listeners[i]);
    free(cfg->listeners);
    for (size_t i = 0; i < cfg->n_plugins; i++) {
        free(cfg->plugins[i].kind);
        free(cfg->plugins[i].name);
    }
    free(cfg->plugins);
    free_agent(cfg);
    free(cfg->pid_file);
    free(cfg->log_level);
    free(cfg->log_format);
    free(cfg->log_file);
    for (size_t i = 0; i < cfg->n_trees; i++)
        vpd_cfg_tree_free(&cfg->trees[i]);
    free(cfg->trees);
    free(cfg);
}

/* ---- loader state ------------------------------------------------------- */

typedef struct {
    const char *file;
    int line;
} pos;

typedef struct {
    cctx c;
    vpd_config *cfg;
    bool vault_present;
    pos auto_auth_at, api_proxy_at, cache_at, use_token_at;
} loader;

static char *
xstrdup(cctx *c, const char *file, int line, const char *s)
{
    char *d = strdup(s);
    if (!d)
        cfail(c, file, line, "out of memory");
    return d;
}

static void
lower(char *s)
{
    for (; s && *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* ---- vault { } ---------------------------------------------------------- */

static int get_positive(blk *b, const vpd_cfg_member *m, size_t *dst);

static int
parse_vault(loader *ld, const block *bl)
{
    vpd_vault_config v = {0};
    blk b = {&ld->c, "vault", bl->file};
    blocks retries = {0};
    int rc = -1;
    if (apply_keys(&b, bl->body, BLOCK_KEYS(VPD_BLOCK_VAULT), &v) != 0)
        goto out;
    for (size_t i = 0; i < bl->body->n_members; i++) {
        const vpd_cfg_member *m = &bl->body->members[i];
        if (strcmp(m->key, "max_connections") == 0 &&
            get_positive(&b, m, &v.max_connections) != 0)
            goto out;
    }

    /* parseVault: absent or 0 means the default 12, -1 means none. */
    int64_t n = 0;
    const block *r = NULL;
    if (collect_single(&b, bl->body, "retry",
                       "one and only one \"retry\" block is required", &r,
                       &retries) != 0)
        goto out;
    if (r) {
        blk rb = {&ld->c, "vault.retry", r->file};
        if (apply_keys(&rb, r->body, BLOCK_KEYS(VPD_BLOCK_RETRY), NULL) != 0)
            goto out;
        for (size_t i = 0; i < r->body->n_members; i++) {
            const vpd_cfg_member *m = &r->body->members[i];
            if (get_int(&rb, m, &n) != 0)
                goto out;
            if (n < -1 || n > INT_MAX) {
                key_fail(&rb, m,
                         "must be -1 (no retries), 0 (the default, "
                         "12) or a positive count");
                goto out;
            }
        }
    }
    v.num_retries = n == 0 ? DEFAULT_NUM_RETRIES : n == -1 ? 0 : (int)n;

    free_vault(&ld->cfg->vault);
    ld->cfg->vault = v;
    ld->vault_present = true;
    memset(&v, 0, sizeof(v));
    rc = 0;
out:
    free_vault(&v);
    free(retries.v);
    return rc;
}

/* ---- auto_auth { } ------------------------------------------------------ */

/* A block's type: its `type` key wins, else its single label
 * (parseMethod, parseSinks, ParseListeners); lower-cased. */
static int
block_type(cctx *c, const block *bl, char **type, const char *what,
           const char *ctx)
{
    if (!*type && bl->label && bl->label[0]) {
        *type = xstrdup(c, bl->file, bl->line, bl->label);
        if (!*type)
            return -1;
    }
    if (!*type) {
        if (ctx)
            return cfail(c, bl->file, bl->line, "%s: %s type must be specified",
                         ctx, what);
        return cfail(c, bl->file, bl->line, "%s type must be specified", what);
    }
    lower(*type);
    return 0;
}

/* namespace.Canonicalize: no leading '/', a trailing '/'. */
static int
canonical_namespace(cctx *c, const char *file, int line, char **ns)
{
    if (!*ns)
        return 0;
    const char *s = *ns;
    if (*s == '/')
        s++;
    size_t len = strlen(s);
    bool slash = len > 0 && s[len - 1] == '/';
    char *d = malloc(len + 2);
    if (!d)
        return cfail(c, file, line, "out of memory");
    memcpy(d, s, len);
    if (!slash)
        d[len++] = '/';
    d[len] = '\0';
    free(*ns);
    *ns = d;
    return 0;
}

static int
parse_method(loader *ld, const block *bl, vpd_method_config *m)
{
    char name[160];
    blk b = {&ld->c, NULL, bl->file};
    /* The type first, so messages can name the method. */
    const vpd_cfg_member *tm = NULL;
    for (size_t i = 0; i < bl->body->n_members; i++)
        if (strcmp(bl->body->members[i].key, "type") == 0)
            tm = &bl->body->members[i];
    b.name = "auto_auth.method";
    if (tm && get_str(&b, tm, &m->type) != 0)
        return -1;
    if (block_type(&ld->c, bl, &m->type, "method", "auto_auth") != 0)
        return -1;
    snprintf(name, sizeof(name), "auto_auth.method \"%s\"",
             vpd_msg_text(m->type));
    b.name = name;
    if (apply_keys(&b, bl->body, BLOCK_KEYS(VPD_BLOCK_METHOD), m) != 0)
        return -1;
    lower(m->type);
    m->file = bl->file;
    m->line = bl->line;

    if (!m->mount_path) {
        size_t len = strlen(m->type) + sizeof("auth/");
        m->mount_path = malloc(len);
        if (!m->mount_path)
            return cfail(&ld->c, bl->file, bl->line, "out of memory");
        snprintf(m->mount_path, len, "auth/%s", m->type);
    }
    /* Standardise on no trailing slash (only one, like TrimSuffix). */
    size_t mp = strlen(m->mount_path);
    if (mp > 0 && m->mount_path[mp - 1] == '/')
        m->mount_path[mp - 1] = '\0';
    if (canonical_namespace(&ld->c, bl->file, bl->line, &m->namespace_) != 0)
        return -1;

    /* Zero means "the default", as in the auth handler. */
    if (m->min_backoff_ms == 0)
        m->min_backoff_ms = DEFAULT_MIN_BACKOFF_MS;
    if (m->max_backoff_ms == 0)
        m->max_backoff_ms = DEFAULT_MAX_BACKOFF_MS;
    /* Vault refuses this only when the auth handler starts, and refuses
     * equality as well; we say so at load with the position. */
    if (m->min_backoff_ms >= m->max_backoff_ms)
        return cfail(&ld->c, bl->file, bl->line,
                     "%s: min_backoff cannot be greater than max_backoff",
                     name);
    return 0;
}

static int
parse_sink(loader *ld, const block *bl, vpd_sink_config *s)
{
    char name[160];
    blk b = {&ld->c, "auto_auth.sink", bl->file};
    const vpd_cfg_member *tm = NULL;
    for (size_t i = 0; i < bl->body->n_members; i++)
        if (strcmp(bl->body->members[i].key, "type") == 0)
            tm = &bl->body->members[i];
    if (tm && get_str(&b, tm, &s->type) != 0)
        return -1;
    if (block_type(&ld->c, bl, &s->type, "sink", "auto_auth") != 0)
        return -1;
    snprintf(name, sizeof(name), "auto_auth.sink \"%s\"",
             vpd_msg_text(s->type));
    b.name = name;
    if (apply_keys(&b, bl->body, BLOCK_KEYS(VPD_BLOCK_SINK), s) != 0)
        return -1;
    lower(s->type);
    s->file = bl->file;
    s->line = bl->line;

    cctx *c = &ld->c;
    /* Vault fails on other sink types only when it builds the sinks; this
     * build has the file sink only, so say it now. */
    if (strcmp(s->type, "file") != 0)
        return cfail(c, bl->file, bl->line,
                     "%s: unknown sink type \"%s\" (only \"file\" is "
                     "supported)",
                     name, vpd_msg_text(s->type));
    if (s->dh_type && strcmp(s->dh_type, "curve25519") != 0)
        return cfail(c, bl->file, bl->line, "%s: invalid value for 'dh_type'",
                     name);
    if (!s->dh_type && !s->dh_path) {
        /* Vault reads aad_env_var here and checks the value; we leave the
         * environment alone at load, so naming the variable is enough. */
        if (s->aad || s->aad_env_var)
            return cfail(c, bl->file, bl->line,
                         "%s: specifying AAD data without 'dh_type' does not "
                         "make sense",
                         name);
        if (s->derive_key)
            return cfail(c, bl->file, bl->line,
                         "%s: specifying 'derive_key' data without 'dh_type' "
                         "does not make sense",
                         name);
    } else if (!s->dh_type || !s->dh_path) {
        return cfail(c, bl->file, bl->line,
                     "%s: 'dh_type' and 'dh_path' must be specified together",
                     name);
    }
    return 0;
}

static int
add_sink(loader *ld, vpd_auto_auth_config *a, const block *bl)
{
    vpd_sink_config *ns =
        realloc(a->sinks, (a->n_sinks + 1) * sizeof(*a->sinks));
    if (!ns)
        return cfail(&ld->c, bl->file, bl->line, "out of memory");
    a->sinks = ns;
    memset(&a->sinks[a->n_sinks], 0, sizeof(a->sinks[0]));
    a->n_sinks++;
    return parse_sink(ld, bl, &a->sinks[a->n_sinks - 1]);
}

static int
parse_auto_auth(loader *ld, const block *bl)
{
    vpd_auto_auth_config a = {0};
    blk b = {&ld->c, "auto_auth", bl->file};
    blocks methods = {0}, sinks = {0};
    int rc = -1;
    if (apply_keys(&b, bl->body, BLOCK_KEYS(VPD_BLOCK_AUTO_AUTH), &a) != 0)
        goto out;

    if (collect(&b, bl->body, "method", BLOCK_KEYS(VPD_BLOCK_METHOD),
                &methods) != 0)
        goto out;
    if (methods.n != 1) {
        cfail(&ld->c, bl->file, methods.n ? methods.v[1].line : bl->line,
              "auto_auth: one and only one \"method\" block is required");
        goto out;
    }
    if (parse_method(ld, &methods.v[0], &a.method) != 0)
        goto out;

    /* Sinks in source order, written as `sink` blocks or inside a `sinks`
     * wrapper (`sinks { sink {...} }`, JSON "sinks": [{"sink": {...}}]). */
    for (size_t i = 0; i < bl->body->n_members; i++) {
        const vpd_cfg_member *m = &bl->body->members[i];
        sinks.n = 0;
        if (strcmp(m->key, "sink") == 0) {
            if (collect_member(&b, m, BLOCK_KEYS(VPD_BLOCK_SINK), &sinks) != 0)
                goto out;
        } else if (strcmp(m->key, "sinks") == 0) {
            blocks wrappers = {0};
            blk wb = {&ld->c, "auto_auth.sinks", bl->file};
            int wrc = collect_member(&b, m, NULL, 0, &wrappers);
            for (size_t w = 0; wrc == 0 && w < wrappers.n; w++) {
                wrc = apply_keys(&wb, wrappers.v[w].body,
                                 BLOCK_KEYS(VPD_BLOCK_SINKS), NULL);
                if (wrc == 0)
                    wrc = collect(&wb, wrappers.v[w].body, "sink",
                                  BLOCK_KEYS(VPD_BLOCK_SINK), &sinks);
            }
            free(wrappers.v);
            if (wrc != 0)
                goto out;
        }
        for (size_t j = 0; j < sinks.n; j++)
            if (add_sink(ld, &a, &sinks.v[j]) != 0)
                goto out;
    }

    if (a.method.wrap_ttl_ms > 0) {
        if (a.n_sinks != 1) {
            cfail(&ld->c, bl->file, bl->line,
                  "auto_auth: wrapping enabled on auth method and 0 or many "
                  "sinks defined");
            goto out;
        }
        if (a.sinks[0].wrap_ttl_ms > 0) {
            cfail(&ld->c, bl->file, bl->line,
                  "auto_auth: wrapping enabled both on auth method and sink");
            goto out;
        }
    }

    a.present = true;
    free_auto_auth(&ld->cfg->auto_auth);
    ld->cfg->auto_auth = a;
    memset(&a, 0, sizeof(a));
    ld->auto_auth_at = (pos){bl->file, bl->line};
    rc = 0;
out:
    free_auto_auth(&a);
    free(methods.v);
    free(sinks.v);
    return rc;
}

/* ---- api_proxy { } ------------------------------------------------------ */

static int
parse_enum(blk *b, const vpd_cfg_member *m, const char *const *allowed,
           char **dst)
{
    if (m->value->type != VPD_CFG_STRING)
        return type_fail(b, m, "a string");
    for (size_t i = 0; allowed[i]; i++) {
        if (strcasecmp(m->value->str, allowed[i]) == 0) {
            char *s = xstrdup(b->c, b->file, m->line, allowed[i]);
            if (!s)
                return -1;
            free(*dst);
            *dst = s;
            return 0;
        }
    }
    return cfail(b->c, b->file, m->line,
                 "%s: Unknown api_proxy setting for %s: \"%s\"", b->name,
                 m->key, vpd_msg_text(m->value->str));
}

static int
parse_api_proxy(loader *ld, const block *bl)
{
    static const char *const consistency[] = {"never", "always", NULL};
    static const char *const inconsistent[] = {"fail", "retry", "forward",
                                               NULL};
    vpd_api_proxy_config a = {0};
    blk b = {&ld->c, "api_proxy", bl->file};
    pos use_at = {bl->file, bl->line};
    int rc = -1;
    if (apply_keys(&b, bl->body, BLOCK_KEYS(VPD_BLOCK_API_PROXY), &a) != 0)
        goto out;
    for (size_t i = 0; i < bl->body->n_members; i++) {
        const vpd_cfg_member *m = &bl->body->members[i];
        if (strcmp(m->key, "use_auto_auth_token") == 0) {
            const vpd_cfg_node *v = m->value;
            bool on = false;
            use_at.line = m->line;
            if (v->type == VPD_CFG_STRING && strcasecmp(v->str, "force") == 0) {
                a.use_auto_auth_token = VPD_AUTO_AUTH_TOKEN_FORCE;
                continue;
            }
            if (v->type == VPD_CFG_STRING &&
                vpd_parse_go_bool(v->str, &on) != 0) {
                cfail(&ld->c, bl->file, m->line,
                      "api_proxy: value of 'use_auto_auth_token' can be "
                      "either true/false/force, \"%s\" is an invalid option",
                      vpd_msg_text(v->str));
                goto out;
            }
            if (v->type != VPD_CFG_STRING && get_rbool(&b, m, &on) != 0)
                goto out;
            a.use_auto_auth_token =
                on ? VPD_AUTO_AUTH_TOKEN_TRUE : VPD_AUTO_AUTH_TOKEN_FALSE;
        } else if (strcmp(m->key, "enforce_consistency") == 0) {
            if (parse_enum(&b, m, consistency, &a.enforce_consistency) != 0)
                goto out;
        } else if (strcmp(m->key, "when_inconsistent") == 0) {
            if (parse_enum(&b, m, inconsistent, &a.when_inconsistent) != 0)
                goto out;
        }
    }
    if (!a.enforce_consistency &&
        !(a.enforce_consistency = xstrdup(&ld->c, bl->file, bl->line, "never")))
        goto out;
    if (!a.when_inconsistent &&
        !(a.when_inconsistent = xstrdup(&ld->c, bl->file, bl->line, "fail")))
        goto out;
    a.present = true;
    free_api_proxy(&ld->cfg->api_proxy);
    ld->cfg->api_proxy = a;
    memset(&a, 0, sizeof(a));
    ld->api_proxy_at = (pos){bl->file, bl->line};
    ld->use_token_at = use_at;
    rc = 0;
out:
    free_api_proxy(&a);
    return rc;
}

/* ---- telemetry { } ------------------------------------------------------ */

/* Vault's configutil.Telemetry keys.  Those of external sinks and of
 * server-only metrics are type-checked and ignored. */

/* A list of strings (a single string counts as a one-item list); the
 * items are checked only.  Returns the list node's items through *out. */
static int
get_str_list(blk *b, const vpd_cfg_member *m, const vpd_cfg_node *const **out,
             size_t *n)
{
    const vpd_cfg_node *v = m->value;
    if (v->type == VPD_CFG_STRING) {
        *out = (const vpd_cfg_node *const *)&m->value;
        *n = 1;
    } else if (v->type == VPD_CFG_LIST) {
        *out = (const vpd_cfg_node *const *)v->items;
        *n = v->n_items;
    } else {
        return type_fail(b, m, "a list of strings");
    }
    for (size_t i = 0; i < *n; i++)
        if ((*out)[i]->type != VPD_CFG_STRING)
            return key_fail(b, m,
                            "expected a list of strings, got %s in "
                            "the list",
                            vpd_cfg_a_type((*out)[i]));
    return 0;
}

/* A sink address or id: a string; a non-empty one counts as a sink. */
static int
count_sink(blk *b, const vpd_cfg_member *m, int *n_sinks)
{
    char *s = NULL;
    if (get_str(b, m, &s) != 0)
        return -1;
    if (s)
        (*n_sinks)++;
    free(s);
    return 0;
}

static int
parse_telemetry(loader *ld, const block *bl)
{
    vpd_telemetry_config t = {0};
    blk b = {&ld->c, "telemetry", bl->file};
    bool circonus = false;
    int rc = -1;
    t.filter_default = true;
    t.prometheus_retention_ms = 24u * 3600u * 1000u;
    if (apply_keys(&b, bl->body, BLOCK_KEYS(VPD_BLOCK_TELEMETRY), &t) != 0)
        goto out;
    for (size_t i = 0; i < bl->body->n_members; i++) {
        const vpd_cfg_member *m = &bl->body->members[i];
        const vpd_cfg_node *const *items;
        size_t n;
        uint64_t scratch;
        if (strcmp(m->key, "prometheus_retention_time") == 0) {
            if (get_dur(&b, m, &t.prometheus_retention_ms) != 0)
                goto out;
        } else if (strcmp(m->key, "filter_default") == 0) {
            if (get_bool(&b, m, &t.filter_default) != 0)
                goto out;
        } else if (strcmp(m->key, "stackdriver_debug_logs") == 0 ||
                   strcmp(m->key, "add_lease_metrics_namespace_labels") == 0 ||
                   strcmp(m->key, "add_mount_point_rollback_metrics") == 0) {
            bool unused;
            if (get_bool(&b, m, &unused) != 0)
                goto out;
        } else if (strcmp(m->key, "usage_gauge_period") == 0 ||
                   strcmp(m->key, "lease_metrics_epsilon") == 0) {
            /* A duration, or "none". */
            if (!(m->value->type == VPD_CFG_STRING &&
                  strcmp(m->value->str, "none") == 0) &&
                get_dur(&b, m, &scratch) != 0)
                goto out;
        } else if (strcmp(m->key, "dogstatsd_tags") == 0) {
            if (get_str_list(&b, m, &items, &n) != 0)
                goto out;
        } else if (strcmp(m->key, "prefix_filter") == 0) {
            if (get_str_list(&b, m, &items, &n) != 0)
                goto out;
            const char **f = calloc(n + 1, sizeof(*f));
            if (!f) {
                key_fail(&b, m, "out of memory");
                goto out;
            }
            free(t.prefix_filter);
            t.prefix_filter = f;
            t.n_prefix_filter = n;
            for (size_t k = 0; k < n; k++) {
                const char *r = items[k]->str;
                /* Vault's parsePrefixFilter refuses these at start. */
                if (r[0] == '\0') {
                    key_fail(&b, m, "cannot have an empty filter rule");
                    goto out;
                }
                if (r[0] != '+' && r[0] != '-') {
                    key_fail(&b, m,
                             "filter rule must begin with either "
                             "'+' or '-': \"%s\"",
                             vpd_msg_text(r));
                    goto out;
                }
                f[k] = r;
            }
        } else if (strcmp(m->key, "circonus_api_token") == 0 ||
                   strcmp(m->key, "circonus_submission_url") == 0) {
            int before = 0;
            if (count_sink(&b, m, &before) != 0)
                goto out;
            circonus = circonus || before;
        } else if (strcmp(m->key, "statsite_address") == 0 ||
                   strcmp(m->key, "statsd_address") == 0 ||
                   strcmp(m->key, "dogstatsd_addr") == 0 ||
                   strcmp(m->key, "stackdriver_project_id") == 0) {
            if (count_sink(&b, m, &t.n_sinks) != 0)
                goto out;
        }
    }
    t.n_sinks += circonus + (t.prometheus_retention_ms > 0);
    t.present = true;
    t.node = bl->body;
    free_telemetry(&ld->cfg->telemetry_conf);
    ld->cfg->telemetry_conf = t;
    memset(&t, 0, sizeof(t));
    rc = 0;
out:
    free_telemetry(&t);
    return rc;
}

/* ---- listener "tcp" | "unix" { } ---------------------------------------- */

/* The types a listener block may name, in vpd_listener_type order, and
 * the kinds of a `plugin` block. */
static const char *const listener_types[] = {"tcp", "unix", NULL};
static const char *const plugin_kinds[] = {"consistency", "cache", NULL};

static int
type_index(const char *const *types, const char *type)
{
    for (int i = 0; types[i]; i++)
        if (strcmp(types[i], type) == 0)
            return i;
    return -1;
}

static int
tls_version_rank(const char *v)
{
    static const char *const names[] = {"tls10", "tls11", "tls12", "tls13"};
    for (int i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0)
            return i;
    return -1;
}

/* A positive size; 0 and negatives refused (they would disable the
 * limit by accident). */
static int
get_positive(blk *b, const vpd_cfg_member *m, size_t *dst)
{
    int64_t n;
    if (get_int(b, m, &n) != 0)
        return -1;
    if (n <= 0)
        return key_fail(b, m, "must be a positive integer");
    *dst = (size_t)n;
    return 0;
}

static int
parse_quit_api(blk *b, const block *bl, bool *enable_quit)
{
    if (apply_keys(b, bl->body, BLOCK_KEYS(VPD_BLOCK_QUIT_API), NULL) != 0)
        return -1;
    for (size_t i = 0; i < bl->body->n_members; i++)
        if (get_bool(b, &bl->body->members[i], enable_quit) != 0)
            return -1;
    return 0;
}

static int
parse_listener(loader *ld, const block *bl, vpd_listener_config *l)
{
    cctx *c = &ld->c;
    char name[160];
    char *type = NULL;
    blk b = {c, "listener", bl->file};

    l->file = bl->file;
    l->line = bl->line;
    l->max_header_bytes = DEFAULT_MAX_HEADER_BYTES;
    l->max_body_bytes = DEFAULT_MAX_BODY_BYTES;
    l->max_connections = DEFAULT_MAX_CONNECTIONS;
    l->read_timeout_ms = DEFAULT_READ_TIMEOUT_MS;
    l->idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
    l->read_header_timeout_ms = DEFAULT_READ_HEADER_TIMEOUT_MS;

    for (size_t i = 0; i < bl->body->n_members; i++)
        if (strcmp(bl->body->members[i].key, "type") == 0 &&
            get_str(&b, &bl->body->members[i], &type) != 0)
            goto err;
    if (block_type(c, bl, &type, "listener", NULL) != 0)
        goto err;
    int type_at = type_index(listener_types, type);
    if (type_at < 0) {
        cfail(c, bl->file, bl->line, "unsupported listener type \"%s\"",
              vpd_msg_text(type));
        goto err;
    }
    l->type = (vpd_listener_type)type_at;
    snprintf(name, sizeof(name), "listener \"%s\"", type);
    b.name = name;
    if (apply_keys(&b, bl->body, BLOCK_KEYS(VPD_BLOCK_LISTENER), l) != 0)
        goto err;

    for (size_t i = 0; i < bl->body->n_members; i++) {
        const vpd_cfg_member *m = &bl->body->members[i];
        if (strcmp(m->key, "role") == 0) {
            if (m->value->type != VPD_CFG_STRING) {
                type_fail(&b, m, "a string");
                goto err;
            }
            const char *role = m->value->str;
            if (strcmp(role, "metrics_only") == 0) {
                l->metrics_only = true;
            } else if (strcmp(role, "default") == 0 || role[0] == '\0') {
                l->metrics_only = false;
            } else {
                cfail(c, bl->file, m->line,
                      "%s: unsupported listener role \"%s\"", name,
                      vpd_msg_text(role));
                goto err;
            }
        } else if (strcmp(m->key, "proxy_api") == 0 ||
                   strcmp(m->key, "agent_api") == 0) {
            /* The proxy reads proxy_api, the agent agent_api; both parse
             * on both, and either enables the quit endpoint here. */
            blocks apis = {0};
            char sub[200];
            snprintf(sub, sizeof(sub), "%s %s", name, m->key);
            blk sb = {c, sub, bl->file};
            bool quit = false;
            int rc = collect_member(&b, m, NULL, 0, &apis);
            for (size_t j = 0; rc == 0 && j < apis.n; j++)
                rc = parse_quit_api(&sb, &apis.v[j], &quit);
            free(apis.v);
            if (rc != 0)
                goto err;
            l->enable_quit = l->enable_quit || quit;
        } else if (strcmp(m->key, "max_request_header_bytes") == 0) {
            if (get_positive(&b, m, &l->max_header_bytes) != 0)
                goto err;
        } else if (strcmp(m->key, "max_connections") == 0) {
            if (get_positive(&b, m, &l->max_connections) != 0)
                goto err;
        } else if (strcmp(m->key, "max_request_size") == 0) {
            /* Vault's meaning: 0 is the default, negative is no limit. */
            int64_t n;
            if (get_int(&b, m, &n) != 0)
                goto err;
            l->max_body_bytes = n == 0  ? DEFAULT_MAX_BODY_BYTES
                                : n < 0 ? SIZE_MAX
                                        : (size_t)n;
        }
    }

    /* Go-sockaddr templates ({{ ... }}) are rendered when the listener is
     * opened, not here: loading touches no network state. */
    if (!l->address) {
        if (l->type == VPD_LISTEN_UNIX) {
            cfail(c, bl->file, bl->line,
                  "%s: address: a socket path is "
                  "required",
                  name);
            goto err;
        }
        if (!(l->address = xstrdup(c, bl->file, bl->line, DEFAULT_TCP_ADDRESS)))
            goto err;
    }
    if (!l->tls_min_version &&
        !(l->tls_min_version = xstrdup(c, bl->file, bl->line, "tls12")))
        goto err;
    if (!l->tls_max_version &&
        !(l->tls_max_version = xstrdup(c, bl->file, bl->line, "tls13")))
        goto err;
    /* Like Vault, the TLS settings are only checked when TLS is on. */
    if (l->tls_disable) {
        free(type);
        return 0;
    }
    int rmin = tls_version_rank(l->tls_min_version);
    int rmax = tls_version_rank(l->tls_max_version);
    if (rmin < 0 || rmax < 0) {
        const char *which = rmin < 0 ? "tls_min_version" : "tls_max_version";
        const char *v = rmin < 0 ? l->tls_min_version : l->tls_max_version;
        const vpd_cfg_member *m = vpd_cfg_get(bl->body, which);
        cfail(c, bl->file, m ? m->line : bl->line,
              "%s: %s: \"%s\" is not supported, use one of tls10, tls11, "
              "tls12, tls13",
              name, which, vpd_msg_text(v));
        goto err;
    }
    if (rmax < rmin) {
        cfail(c, bl->file, bl->line,
              "%s: tls_max_version \"%s\" is lower than tls_min_version "
              "\"%s\"",
              name, l->tls_max_version, l->tls_min_version);
        goto err;
    }
    if (l->tls_require_and_verify_client_cert && l->tls_disable_client_certs) {
        cfail(c, bl->file, bl->line,
              "%s: 'tls_disable_client_certs' and "
              "'tls_require_and_verify_client_cert' are mutually exclusive",
              name);
        goto err;
    }
    if (!l->tls_cert_file || !l->tls_key_file) {
        cfail(c, bl->file, bl->line,
              "%s: TLS is enabled (tls_disable is false) but tls_cert_file "
              "and tls_key_file are not both set",
              name);
        goto err;
    }
    free(type);
    return 0;
err:
    free(type);
    return -1;
}

static int
parse_listeners(loader *ld, const vpd_cfg_node *root, const char *file)
{
    blk b = {&ld->c, NULL, file};
    blocks ls = {0};
    int rc = -1;
    if (collect(&b, root, "listener", BLOCK_KEYS(VPD_BLOCK_LISTENER), &ls) != 0)
        goto out;
    vpd_config *cfg = ld->cfg;
    for (size_t i = 0; i < ls.n; i++) {
        vpd_listener_config *nl =
            realloc(cfg->listeners, (cfg->n_listeners + 1) * sizeof(*nl));
        if (!nl) {
            cfail(&ld->c, file, ls.v[i].line, "out of memory");
            goto out;
        }
        cfg->listeners = nl;
        vpd_listener_config *l = &cfg->listeners[cfg->n_listeners];
        memset(l, 0, sizeof(*l));
        cfg->n_listeners++;
        if (parse_listener(ld, &ls.v[i], l) != 0)
            goto out;
    }
    rc = 0;
out:
    free(ls.v);
    return rc;
}

/* ---- top level ---------------------------------------------------------- */

/* disable_idle_connections / disable_keep_alives values. */
static int
disable_value(const char *v, bool *auto_auth, bool *proxying)
{
    if (v[0] == '\0')
        return 0;
    if (strcmp(v, "auto-auth") == 0)
        *auto_auth = true;
    else if (strcmp(v, "caching") == 0 || strcmp(v, "proxying") == 0)
        *proxying = true;
    else
        return -1;
    return 0;
}

static int
parse_disable_list(blk *b, const vpd_cfg_member *m, bool *auto_auth,
                   bool *proxying)
{
    const vpd_cfg_node *v = m->value;
    const vpd_cfg_node *const *items;
    size_t n;
    if (v->type == VPD_CFG_STRING) {
        items = (const vpd_cfg_node *const *)&m->value;
        n = 1;
    } else if (v->type == VPD_CFG_LIST) {
        items = (const vpd_cfg_node *const *)v->items;
        n = v->n_items;
    } else {
        return type_fail(b, m, "a list of strings");
    }
    for (size_t i = 0; i < n; i++) {
        if (items[i]->type != VPD_CFG_STRING)
            return key_fail(b, m,
                            "expected a list of strings, got %s in the "
                            "list",
                            vpd_cfg_a_type(items[i]));
        if (disable_value(items[i]->str, auto_auth, proxying) != 0)
            return cfail(b->c, b->file, items[i]->line, "unknown %s value: %s",
                         m->key, vpd_msg_text(items[i]->str));
    }
    return 0;
}

static const vpd_cfg_member *
last_member(const vpd_cfg_node *obj, const char *key)
{
    const vpd_cfg_member *m = NULL;
    for (size_t i = 0; i < obj->n_members; i++)
        if (strcmp(obj->members[i].key, key) == 0)
            m = &obj->members[i];
    return m;
}

/* Replaces *dst with *src when src is set (the later non-empty value). */
static void
take_nonempty(char **dst, char **src)
{
    if (*src) {
        free(*dst);
        *dst = *src;
        *src = NULL;
    }
}

/* ---- plugin blocks (vaproxy's own) -------------------------------------- */

static int
add_plugin_block(loader *ld, const char *file, int line, const char *pkind,
                 const char *name, const vpd_cfg_node *body)
{
    blk b = {&ld->c, "plugin", file};
    if (body->type != VPD_CFG_OBJECT)
        return cfail(&ld->c, file, line, "plugin: expected a block, got %s",
                     vpd_cfg_a_type(body));
    const vpd_cfg_node *config = NULL;
    for (size_t i = 0; i < body->n_members; i++) {
        const vpd_cfg_member *m = &body->members[i];
        if (!find_key(BLOCK_KEYS(VPD_BLOCK_PLUGIN), m->key))
            return unknown_key(&b, m, BLOCK_KEYS(VPD_BLOCK_PLUGIN));
        if (strcmp(m->key, "config") == 0) {
            if (m->value->type != VPD_CFG_OBJECT)
                return type_fail(&b, m, "a map");
            config = m->value;
        } else if (m->value->type != VPD_CFG_STRING) {
            return type_fail(&b, m, "a string");
        } else if (strcmp(m->key, "kind") == 0) {
            pkind = m->value->str;
        } else {
            name = m->value->str;
        }
    }
    if (!pkind || !name || !pkind[0] || !name[0])
        return cfail(&ld->c, file, line,
                     "plugin: a kind and a name are required, as in "
                     "plugin \"consistency\" \"NAME\" {}");
    if (type_index(plugin_kinds, pkind) < 0)
        return cfail(&ld->c, file, line,
                     "plugin: unknown kind \"%s\" (consistency or cache; "
                     "auth methods go in auto_auth)",
                     vpd_msg_text(pkind));
    vpd_config *cfg = ld->cfg;
    vpd_plugin_block *nv =
        realloc(cfg->plugins, (cfg->n_plugins + 1) * sizeof(*nv));
    if (!nv)
        return cfail(&ld->c, file, line, "out of memory");
    cfg->plugins = nv;
    vpd_plugin_block *pb = &cfg->plugins[cfg->n_plugins];
    pb->kind = strdup(pkind);
    pb->name = strdup(name);
    pb->config = config;
    pb->file = file;
    pb->line = line;
    cfg->n_plugins++;
    if (!pb->kind || !pb->name)
        return cfail(&ld->c, file, line, "out of memory");
    return 0;
}

/* Walks `plugin "KIND" "NAME" {...}` (two labels), the unlabelled form with
 * pkind/name keys, and JSON's lists of either. */
static int
parse_plugin_value(loader *ld, const char *file, int line,
                   const vpd_cfg_node *v, const char *pkind, int depth)
{
    if (v->type == VPD_CFG_LIST) {
        for (size_t i = 0; i < v->n_items; i++)
            if (parse_plugin_value(ld, file, v->items[i]->line, v->items[i],
                                   pkind, depth) != 0)
                return -1;
        return 0;
    }
    if (v->type != VPD_CFG_OBJECT)
        return cfail(&ld->c, file, line, "plugin: expected a block, got %s",
                     vpd_cfg_a_type(v));
    bool keyed = false;
    for (size_t i = 0; i < v->n_members; i++)
        keyed |=
            find_key(BLOCK_KEYS(VPD_BLOCK_PLUGIN), v->members[i].key) != NULL;
    if (keyed || v->n_members == 0)
        return add_plugin_block(ld, file, line, pkind, NULL, v);
    for (size_t i = 0; i < v->n_members; i++) {
        const vpd_cfg_member *m = &v->members[i];
        if (depth == 0) {
            if (parse_plugin_value(ld, file, m->line, m->value, m->key, 1) != 0)
                return -1;
        } else if (m->value->type == VPD_CFG_LIST) {
            for (size_t j = 0; j < m->value->n_items; j++)
                if (add_plugin_block(ld, file, m->line, pkind, m->key,
                                     m->value->items[j]) != 0)
                    return -1;
        } else if (add_plugin_block(ld, file, m->line, pkind, m->key,
                                    m->value) != 0) {
            return -1;
        }
    }
    return 0;
}

static int
parse_plugins(loader *ld, const vpd_cfg_node *root, const char *file)
{
    for (size_t i = 0; i < root->n_members; i++) {
        const vpd_cfg_member *m = &root->members[i];
        if (strcmp(m->key, "plugin") == 0 &&
            parse_plugin_value(ld, file, m->line, m->value, NULL, 0) != 0)
            return -1;
    }
    return 0;
}

/* One of the names a CUSTOM enum key of the cache block may take. */
static int
get_cache_enum(blk *b, const vpd_cfg_member *m, const char *const *names,
               size_t n_names, int *dst)
{
    if (m->value->type != VPD_CFG_STRING)
        return type_fail(b, m, "a string");
    for (size_t i = 0; i < n_names; i++) {
        if (strcmp(m->value->str, names[i]) == 0) {
            *dst = (int)i;
            return 0;
        }
    }
    return key_fail(b, m, "unknown value \"%s\" (%s or %s)",
                    vpd_msg_text(m->value->str), names[0], names[1]);
}

/* The static-secret keys of the cache block (the core's); the rest of the
 * block is the store plugin's, which removes none of ours. */
static int
load_cache_core_keys(loader *ld, const block *bl)
{
    vpd_cache_config *cc = &ld->cfg->cache;
    blk b = {&ld->c, "cache", bl->file};
    const vpd_cfg_node *body = bl->body;
    if (!body || body->type != VPD_CFG_OBJECT)
        return 0;
    vpd_cfg_node core = *body;
    core.members = calloc(body->n_members + 1, sizeof *core.members);
    if (!core.members)
        return cfail(&ld->c, bl->file, bl->line, "out of memory");
    core.n_members = 0;
    int rc = 0;
    for (size_t i = 0; i < body->n_members && rc == 0; i++) {
        const vpd_cfg_member *m = &body->members[i];
        const keydef *d = find_key(BLOCK_KEYS(VPD_BLOCK_CACHE), m->key);
        if (!d || strcmp(m->key, "persist") == 0)
            continue;
        if (strcmp(m->key, "static_secret_token_capability_refresh_behavior") ==
            0)
            rc = get_cache_enum(&b, m, d->names, 2,
                                (int *)&cc->static_capability_behavior);
        else if (strcmp(m->key, "static_secret_events") == 0)
            rc = get_cache_enum(&b, m, d->names, 2, (int *)&cc->static_events);
        else
            core.members[core.n_members++] = *m;
    }
    if (rc == 0)
        rc = apply_keys(&b, &core, BLOCK_KEYS(VPD_BLOCK_CACHE), cc);
    free(core.members);
    return rc;
}

/* ---- agent mode: template, template_config, exec, env_template ---------- */

#define DEFAULT_COMMAND_TIMEOUT_MS (30u * 1000u)
#define DEFAULT_STATIC_RENDER_INTERVAL_MS (5u * 60u * 1000u)
#define DEFAULT_MAX_CONNECTIONS_PER_HOST 10u

static void
free_template(vpd_template_config *t)
{
    free(t->source);
    free(t->contents);
    free(t->destination);
    free(t->perms);
    free(t->user);
    free(t->group);
    free(t->command);
    free(t->exec.command);
    free(t->left_delimiter);
    free(t->right_delimiter);
    free(t->function_denylist);
    free(t->sandbox_path);
}

static void
free_env_template(vpd_env_template_config *e)
{
    free(e->name);
    free(e->source);
    free(e->contents);
    free(e->left_delimiter);
    free(e->right_delimiter);
    free(e->function_denylist);
}

static void
free_exec(vpd_exec_config *e)
{
    free(e->command);
    free(e->restart_on_secret_changes);
    free(e->restart_stop_signal);
    memset(e, 0, sizeof(*e));
}

static void
free_agent(vpd_config *cfg)
{
    for (size_t i = 0; i < cfg->n_templates; i++)
        free_template(&cfg->templates[i]);
    free(cfg->templates);
    for (size_t i = 0; i < cfg->n_env_templates; i++)
        free_env_template(&cfg->env_templates[i]);
    free(cfg->env_templates);
    free(cfg->template_config.lease_renewal_threshold);
    free_exec(&cfg->exec);
}

/* A command: a list of strings is the argv as is; a single string is run
 * by the shell (*shell set), as consul-template runs a string command. */
static int
get_argv(blk *b, const vpd_cfg_member *m, const char ***argv, size_t *n,
         bool *shell)
{
    const vpd_cfg_node *const *items;
    size_t k;
    if (get_str_list(b, m, &items, &k) != 0)
        return -1;
    if (k == 0 || !items[0]->str[0])
        return key_fail(b, m, "the command cannot be empty");
    const char **v = calloc(k + 1, sizeof(*v));
    if (!v)
        return key_fail(b, m, "out of memory");
    for (size_t i = 0; i < k; i++)
        v[i] = items[i]->str;
    free(*argv);
    *argv = v;
    *n = k;
    if (shell)
        *shell = m->value->type == VPD_CFG_STRING;
    return 0;
}

/* function_denylist: a list of function names (one string counts as a
 * list of one), kept NULL-terminated for the template compiler. */
static int
get_denylist(blk *b, const vpd_cfg_member *m, const char ***list, size_t *n)
{
    const vpd_cfg_node *const *items;
    size_t k;
    if (get_str_list(b, m, &items, &k) != 0)
        return -1;
    const char **v = calloc(k + 1, sizeof(*v));
    if (!v)
        return key_fail(b, m, "out of memory");
    for (size_t i = 0; i < k; i++)
        v[i] = items[i]->str;
    free(*list);
    *list = v;
    *n = k;
    return 0;
}

/* uid or gid, Vault Agent's deprecated numeric owner of the destination:
 * stored as the decimal text that user and group also accept.  Giving
 * both spellings is refused, since neither could be said to win. */
static int
get_owner_id(blk *b, const vpd_cfg_member *m, const char *current, char **dst)
{
    int64_t id;
    if (*dst)
        return key_fail(b, m,
                        "cannot be set together with %s (%s is its "
                        "deprecated numeric spelling)",
                        current, m->key);
    if (get_int(b, m, &id) != 0)
        return -1;
    if (id < 0 || id > 0xfffffffe)
        return key_fail(b, m, "expected a user or group id, got %lld",
                        (long long)id);
    char text[24];
    snprintf(text, sizeof text, "%lld", (long long)id);
    if (!(*dst = strdup(text)))
        return key_fail(b, m, "out of memory");
    return 0;
}

/* The signal names restart_stop_signal accepts, with or without "SIG". */
static int
signal_number(const char *name)
{
    static const struct {
        const char *name;
        int num;
    } sigs[] = {
        {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},
        {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
        {"TERM", SIGTERM}, {"ALRM", SIGALRM}, {"WINCH", SIGWINCH},
    };
    if (strncasecmp(name, "SIG", 3) == 0)
        name += 3;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (strcasecmp(name, sigs[i].name) == 0)
            return sigs[i].num;
    return -1;
}

static int
parse_wait(loader *ld, const block *bl, vpd_wait_config *w)
{
    blk b = {&ld->c, "template.wait", bl->file};
    if (apply_keys(&b, bl->body, BLOCK_KEYS(VPD_BLOCK_TEMPLATE_WAIT), w) != 0)
        return -1;
    /* consul-template: a max left out is four times the min. */
    if (w->max_ms == 0)
        w->max_ms = w->min_ms * 4;
    if (w->min_ms > w->max_ms)
        return cfail(&ld->c, bl->file, bl->line,
                     "template.wait: min cannot be greater than max");
    return 0;
}

static int
parse_template_exec(loader *ld, const block *bl, vpd_tmpl_exec_config *e)
{
    blk b = {&ld->c, "template.exec", bl->file};
    e->timeout_ms = DEFAULT_COMMAND_TIMEOUT_MS;
    if (apply_keys(&b, bl->body, BLOCK_KEYS(VPD_BLOCK_TEMPLATE_EXEC), e) != 0)
        return -1;
    const vpd_cfg_member *m = vpd_cfg_get(bl->body, "command");
    if (!m)
        return cfail(&ld->c, bl->file, bl->line,
                     "template.exec: command is required");
    return get_argv(&b, m, &e->command, &e->n_command, NULL);
}

/* Reads the one optional sub-block `key` of a template with fn. */
static int
template_sub(loader *ld, blk *b, const block *bl, const char *key,
             int (*fn)(loader *, const block *, void *), void *dst)
{
    blocks store = {0};
    const block *one = NULL;
    char too_many[96];
    snprintf(too_many, sizeof too_many, "at most one \"%s\" block is allowed",
             key);
    int rc = collect_single(b, bl->body, key, too_many, &one, &store);
    if (rc == 0 && one)
        rc = fn(ld, one, dst);
    free(store.v);
    return rc;
}

static int
wait_fn(loader *ld, const block *bl, void *dst)
{
    return parse_wait(ld, bl, dst);
}

static int
texec_fn(loader *ld, const block *bl, void *dst)
{
    return parse_template_exec(ld, bl, dst);
}

static int
parse_template(loader *ld, const block *bl, vpd_template_config *t)
{
    cctx *c = &ld->c;
    blk b = {c, "template", bl->file};
    t->file = bl->file;
    t->line = bl->line;
    t->create_dest_dirs = true;
    t->command_timeout_ms = DEFAULT_COMMAND_TIMEOUT_MS;
    t->mode = 0644;
    if (apply_keys(&b, bl->body, BLOCK_KEYS(VPD_BLOCK_TEMPLATE), t) != 0)
        return -1;
    for (size_t i = 0; i < bl->body->n_members; i++) {
        const vpd_cfg_member *m = &bl->body->members[i];
        if (strcmp(m->key, "command") == 0) {
            if (get_argv(&b, m, &t->command, &t->n_command,
                         &t->command_is_shell) != 0)
                return -1;
        } else if (strcmp(m->key, "perms") == 0) {
            if (get_str(&b, m, &t->perms) != 0)
                return -1;
            char *end = NULL;
            unsigned long mode = t->perms ? strtoul(t->perms, &end, 8) : 0;
            if (!t->perms || *end || mode > 07777)
                return key_fail(&b, m,
                                "expected an octal file mode such as "
                                "\"0600\", got \"%s\"",
                                vpd_msg_text(t->perms ? t->perms : ""));
            t->mode = (unsigned)mode;
        } else if (strcmp(m->key, "function_denylist") == 0) {
            if (get_denylist(&b, m, &t->function_denylist,
                             &t->n_function_denylist) != 0)
                return -1;
        } else if (strcmp(m->key, "uid") == 0) {
            if (get_owner_id(&b, m, "user", &t->user) != 0)
                return -1;
        } else if (strcmp(m->key, "gid") == 0) {
            if (get_owner_id(&b, m, "group", &t->group) != 0)
                return -1;
        }
    }
    if (template_sub(ld, &b, bl, "wait", wait_fn, &t->wait) != 0 ||
        template_sub(ld, &b, bl, "exec", texec_fn, &t->exec) != 0)
        return -1;
    if (t->source && t->contents)
        return cfail(c, bl->file, bl->line,
                     "template: only one of source or contents can be "
                     "specified");
    if (!t->source && !t->contents)
        return cfail(c, bl->file, bl->line,
                     "template: one of source or contents is required");
    if (!t->destination)
        return cfail(c, bl->file, bl->line,
                     "template: destination is required");
    if (t->command && t->exec.command)
        return cfail(c, bl->file, bl->line,
                     "template: command and exec cannot both be specified "
                     "(exec replaces command)");
    return 0;
}

static int
parse_templates(loader *ld, const vpd_cfg_node *root, const char *file)
{
    blk b = {&ld->c, NULL, file};
    blocks ts = {0};
    int rc = -1;
    if (collect(&b, root, "template", BLOCK_KEYS(VPD_BLOCK_TEMPLATE), &ts) != 0)
        goto out;
    vpd_config *cfg = ld->cfg;
    for (size_t i = 0; i < ts.n; i++) {
        vpd_template_config *nt =
            realloc(cfg->templates, (cfg->n_templates + 1) * sizeof(*nt));
        if (!nt) {
            cfail(&ld->c, file, ts.v[i].line, "out of memory");
            goto out;
        }
        cfg->templates = nt;
        vpd_template_config *t = &cfg->templates[cfg->n_templates++];
        memset(t, 0, sizeof(*t));
        if (parse_template(ld, &ts.v[i], t) != 0)
            goto out;
    }
    rc = 0;
out:
    free(ts.v);
    return rc;
}

static int
parse_template_config(loader *ld, const block *bl)
{
    vpd_template_settings s = {0};
    blk b = {&ld->c, "template_config", bl->file};
    int rc = -1;
    s.static_secret_render_interval_ms = DEFAULT_STATIC_RENDER_INTERVAL_MS;
    s.max_connections_per_host = DEFAULT_MAX_CONNECTIONS_PER_HOST;
    s.lease_threshold = 0.9;
    if (apply_keys(&b, bl->body, BLOCK_KEYS(VPD_BLOCK_TEMPLATE_CONFIG), &s) !=
        0)
        goto out;
    for (size_t i = 0; i < bl->body->n_members; i++) {
        const vpd_cfg_member *m = &bl->body->members[i];
        if (strcmp(m->key, "max_connections_per_host") == 0) {
            if (get_positive(&b, m, &s.max_connections_per_host) != 0)
                goto out;
        } else if (strcmp(m->key, "lease_renewal_threshold") == 0) {
            const vpd_cfg_node *v = m->value;
            if (v->type != VPD_CFG_NUMBER && v->type != VPD_CFG_STRING) {
                type_fail(&b, m, "a number");
                goto out;
            }
            /* Numbers keep their text in the tree. */
            char *end = NULL;
            double d = strtod(v->str ? v->str : "", &end);
            if (!v->str || !v->str[0] || *end || !(d > 0 && d <= 1)) {
                key_fail(&b, m, "must be a number above 0 and at most 1");
                goto out;
            }
            s.lease_threshold = d;
            char text[32];
            snprintf(text, sizeof text, "%g", d);
            free(s.lease_renewal_threshold);
            if (!(s.lease_renewal_threshold =
                      xstrdup(&ld->c, bl->file, m->line, text)))
                goto out;
        }
    }
    /* Vault Agent treats a zero interval as its default. */
    if (s.static_secret_render_interval_ms == 0)
        s.static_secret_render_interval_ms = DEFAULT_STATIC_RENDER_INTERVAL_MS;
    s.present = true;
    free(ld->cfg->template_config.lease_renewal_threshold);
    ld->cfg->template_config = s;
    memset(&s, 0, sizeof(s));
    rc = 0;
out:
    free(s.lease_renewal_threshold);
    return rc;
}

static int
parse_exec(loader *ld, const block *bl)
{
    vpd_exec_config e = {0};
    blk b = {&ld->c, "exec", bl->file};
    int rc = -1;
    e.file = bl->file;
    e.line = bl->line;
    if (apply_keys(&b, bl->body, BLOCK_KEYS(VPD_BLOCK_EXEC), &e) != 0)
        goto out;
    for (size_t i = 0; i < bl->body->n_members; i++) {
        const vpd_cfg_member *m = &bl->body->members[i];
        if (strcmp(m->key, "command") == 0) {
            if (m->value->type != VPD_CFG_LIST) {
                type_fail(&b, m, "a list of strings");
                goto out;
            }
            if (get_argv(&b, m, &e.command, &e.n_command, NULL) != 0)
                goto out;
        } else if (strcmp(m->key, "restart_on_secret_changes") == 0) {
            if (get_str(&b, m, &e.restart_on_secret_changes) != 0)
                goto out;
            const char *v = e.restart_on_secret_changes;
            if (!v || (strcmp(v, "always") != 0 && strcmp(v, "never") != 0)) {
                key_fail(&b, m, "must be \"always\" or \"never\", got \"%s\"",
                         vpd_msg_text(v ? v : ""));
                goto out;
            }
        } else if (strcmp(m->key, "restart_stop_signal") == 0) {
            if (get_str(&b, m, &e.restart_stop_signal) != 0)
                goto out;
            if (!e.restart_stop_signal ||
                signal_number(e.restart_stop_signal) < 0) {
                key_fail(&b, m, "unknown signal \"%s\"",
                         vpd_msg_text(e.restart_stop_signal
                                          ? e.restart_stop_signal
                                          : ""));
                goto out;
            }
        }
    }
    if (!e.command) {
        cfail(&ld->c, bl->file, bl->line, "exec: command is required");
        goto out;
    }
    if (!e.restart_on_secret_changes &&
        !(e.restart_on_secret_changes =
              xstrdup(&ld->c, bl->file, bl->line, "always")))
        goto out;
    if (!e.restart_stop_signal && !(e.restart_stop_signal = xstrdup(
                                        &ld->c, bl->file, bl->line, "SIGTERM")))
        goto out;
    e.stop_signal = signal_number(e.restart_stop_signal);
    e.present = true;
    free_exec(&ld->cfg->exec);
    ld->cfg->exec = e;
    memset(&e, 0, sizeof(e));
    rc = 0;
out:
    free_exec(&e);
    return rc;
}

/* Keys of a template that an env_template may not have: its value goes to
 * the child's environment, not to a file, and the child is exec's. */
static const char *const env_template_forbidden[] = {
    "destination",  "create_dest_dirs",
    "perms",        "user",
    "group",        "uid",
    "gid",          "backup",
    "command",      "command_timeout",
    "exec",         "wait",
    "sandbox_path", NULL};

static int
parse_env_template(loader *ld, const block *bl, vpd_env_template_config *e)
{
    char name[160];
    cctx *c = &ld->c;
    e->file = bl->file;
    e->line = bl->line;
    if (!bl->label || !bl->label[0])
        return cfail(c, bl->file, bl->line,
                     "env_template: the environment variable name is "
                     "required, as in env_template \"NAME\" { ... }");
    if (!(e->name = xstrdup(c, bl->file, bl->line, bl->label)))
        return -1;
    snprintf(name, sizeof name, "env_template \"%s\"", vpd_msg_text(e->name));
    blk b = {c, name, bl->file};
    for (size_t i = 0; i < bl->body->n_members; i++) {
        const vpd_cfg_member *m = &bl->body->members[i];
        for (size_t k = 0; env_template_forbidden[k]; k++)
            if (strcmp(m->key, env_template_forbidden[k]) == 0)
                return key_fail(&b, m,
                                "not allowed in an env_template (its value "
                                "goes to exec's environment)");
    }
    if (apply_keys(&b, bl->body, BLOCK_KEYS(VPD_BLOCK_ENV_TEMPLATE), e) != 0)
        return -1;
    for (size_t i = 0; i < bl->body->n_members; i++) {
        const vpd_cfg_member *m = &bl->body->members[i];
        if (strcmp(m->key, "function_denylist") == 0 &&
            get_denylist(&b, m, &e->function_denylist,
                         &e->n_function_denylist) != 0)
            return -1;
    }
    if (e->source && e->contents)
        return cfail(c, bl->file, bl->line,
                     "%s: only one of source or contents can be specified",
                     name);
    if (!e->source && !e->contents)
        return cfail(c, bl->file, bl->line,
                     "%s: one of source or contents is required", name);
    return 0;
}

static int
parse_env_templates(loader *ld, const vpd_cfg_node *root, const char *file)
{
    blk b = {&ld->c, NULL, file};
    blocks es = {0};
    int rc = -1;
    if (collect(&b, root, "env_template", BLOCK_KEYS(VPD_BLOCK_ENV_TEMPLATE),
                &es) != 0)
        goto out;
    vpd_config *cfg = ld->cfg;
    for (size_t i = 0; i < es.n; i++) {
        vpd_env_template_config *ne = realloc(
            cfg->env_templates, (cfg->n_env_templates + 1) * sizeof(*ne));
        if (!ne) {
            cfail(&ld->c, file, es.v[i].line, "out of memory");
            goto out;
        }
        cfg->env_templates = ne;
        vpd_env_template_config *e = &cfg->env_templates[cfg->n_env_templates];
        memset(e, 0, sizeof(*e));
        cfg->n_env_templates++;
        if (parse_env_template(ld, &es.v[i], e) != 0)
            goto out;
        for (size_t j = 0; j + 1 < cfg->n_env_templates; j++)
            if (strcmp(cfg->env_templates[j].name, e->name) == 0) {
                cfail(&ld->c, file, es.v[i].line,
                      "env_template \"%s\": defined twice",
                      vpd_msg_text(e->name));
                goto out;
            }
    }
    rc = 0;
out:
    free(es.v);
    return rc;
}

/* What Vault Agent refuses about the agent blocks taken together. */
static int
validate_agent(loader *ld, const char *first_path)
{
    vpd_config *cfg = ld->cfg;
    cctx *c = &ld->c;
    if (cfg->n_env_templates && !cfg->exec.present)
        return cfail(c, cfg->env_templates[0].file, cfg->env_templates[0].line,
                     "env_template: requires an exec block (the variables "
                     "go to its child)");
    if (cfg->n_env_templates && cfg->n_templates)
        return cfail(c, cfg->templates[0].file, cfg->templates[0].line,
                     "template: cannot be used with env_template (exec "
                     "mode renders to the environment only)");
    if ((cfg->n_templates || cfg->n_env_templates) && !cfg->auto_auth.present)
        return cfail(c,
                     cfg->n_templates ? cfg->templates[0].file
                                      : cfg->env_templates[0].file,
                     cfg->n_templates ? cfg->templates[0].line
                                      : cfg->env_templates[0].line,
                     "%s: requires an auto_auth block (secrets are read "
                     "with its token)",
                     cfg->n_templates ? "template" : "env_template");
    (void)first_path;
    return 0;
}

static int
load_template_config(loader *ld, const block *bl)
{
    return parse_template_config(ld, bl);
}

/* The cache block is the store plugin's, `persist` included: its schema
 * checks it when the instance is built.  The static-secret keys are the
 * core's. */
static int
load_cache(loader *ld, const block *bl)
{
    vpd_cache_config *cc = &ld->cfg->cache;
    cc->present = true;
    cc->node = bl->body;
    cc->static_capability_refresh_ms = 5u * 60u * 1000u;
    cc->static_refresh_ms = 60u * 1000u;
    ld->cache_at = (pos){bl->file, bl->line};
    return load_cache_core_keys(ld, bl);
}

static int
load_telemetry(loader *ld, const block *bl)
{
    ld->cfg->telemetry = bl->body;
    return parse_telemetry(ld, bl);
}

/* The top-level blocks, in the order they are read (which decides the
 * error reported when a file has several).  A block that may appear once
 * per file is collected here and handed to load_one; a repeatable one
 * reads every instance from the file's root with load_all, appending to
 * what earlier files gave. */
typedef struct {
    const char *name;
    bool repeatable;
    const char *too_many; /* the error for a second instance */
    int (*load_one)(loader *ld, const block *bl);
    int (*load_all)(loader *ld, const vpd_cfg_node *root, const char *file);
    const char *const *types; /* the types or kinds a label may name */
} top_block;

static const top_block top_blocks[] = {
    {"vault", false, "one and only one \"vault\" block is required",
     parse_vault, NULL, NULL},
    {"auto_auth", false, "at most one \"auto_auth\" block is allowed",
     parse_auto_auth, NULL, NULL},
    {"api_proxy", false, "one and only one \"api_proxy\" block is required",
     parse_api_proxy, NULL, NULL},
    {"cache", false, "one and only one \"cache\" block is required", load_cache,
     NULL, NULL},
    {"telemetry", false, "at most one \"telemetry\" block is allowed",
     load_telemetry, NULL, NULL},
    {"listener", true, NULL, NULL, parse_listeners, listener_types},
    {"plugin", true, NULL, NULL, parse_plugins, plugin_kinds},
    /* Agent mode. */
    {"template", true, NULL, NULL, parse_templates, NULL},
    {"template_config", false,
     "at most one \"template_config\" block is allowed", load_template_config,
     NULL, NULL},
    {"exec", false, "at most one \"exec\" block is allowed", parse_exec, NULL,
     NULL},
    {"env_template", true, NULL, NULL, parse_env_templates, NULL},
};

/* One file's top-level scalars join the config read so far: a later
 * non-empty string, non-zero number or true flag wins, as in Vault's
 * Config.Merge.  What is left in `top` is freed by the caller. */
static void
merge_top_scalars(vpd_config *cfg, vpd_config *top)
{
    const vpd_config_block *tb = &vpd_config_blocks[VPD_BLOCK_TOP];
    for (size_t i = 0; i < tb->n_keys; i++) {
        const vpd_config_key *k = &tb->keys[i];
        char *dst = (char *)cfg + k->off, *src = (char *)top + k->off;
        switch (k->field) {
        case VPD_FIELD_STR:
            take_nonempty((char **)(void *)dst, (char **)(void *)src);
            break;
        case VPD_FIELD_BOOL:
            if (*(bool *)(void *)src)
                *(bool *)(void *)dst = true;
            break;
        case VPD_FIELD_MS:
            if (*(uint64_t *)(void *)src)
                *(uint64_t *)(void *)dst = *(uint64_t *)(void *)src;
            break;
        case VPD_FIELD_I64:
            if (*(int64_t *)(void *)src)
                *(int64_t *)(void *)dst = *(int64_t *)(void *)src;
            break;
        default:
            /* Blocks have loaders; the disable lists are read in place. */
            break;
        }
    }
}

static void
free_top_scalars(vpd_config *top)
{
    const vpd_config_block *tb = &vpd_config_blocks[VPD_BLOCK_TOP];
    for (size_t i = 0; i < tb->n_keys; i++)
        if (tb->keys[i].field == VPD_FIELD_STR)
            free(*(char **)(void *)((char *)top + tb->keys[i].off));
}

static int
load_tree(loader *ld, const vpd_cfg_tree *t)
{
    cctx *c = &ld->c;
    vpd_config *cfg = ld->cfg;
    const vpd_cfg_node *root = t->root;
    const char *file = t->file;
    blk b = {c, NULL, file};
    vpd_config top = {0};
    int rc = -1;

    if (apply_keys(&b, root, BLOCK_KEYS(VPD_BLOCK_TOP), &top) != 0)
        goto out;

    for (size_t i = 0; i < root->n_members; i++) {
        const vpd_cfg_member *m = &root->members[i];
        if (strcmp(m->key, "disable_idle_connections") == 0) {
            if (parse_disable_list(
                    &b, m, &cfg->disable_idle_connections_auto_auth,
                    &cfg->disable_idle_connections_proxying) != 0)
                goto out;
        } else if (strcmp(m->key, "disable_keep_alives") == 0) {
            if (parse_disable_list(&b, m, &cfg->disable_keep_alives_auto_auth,
                                   &cfg->disable_keep_alives_proxying) != 0)
                goto out;
        } else if (strcmp(m->key, "log_rotate_bytes") == 0) {
            if (get_int(&b, m, &top.log_rotate_bytes) != 0)
                goto out;
            if (top.log_rotate_bytes < 0) {
                key_fail(&b, m,
                         "must be 0 (no limit) or a positive number "
                         "of bytes");
                goto out;
            }
        } else if (strcmp(m->key, "log_rotate_max_files") == 0) {
            if (get_int(&b, m, &top.log_rotate_max_files) != 0)
                goto out;
            if (top.log_rotate_max_files < -1) {
                key_fail(&b, m,
                         "must be -1 (delete archives), 0 (keep "
                         "all) or a positive count");
                goto out;
            }
        } else if (strcmp(m->key, "disable_mlock") == 0) {
            bool v = false;
            if (get_rbool(&b, m, &v) != 0)
                goto out;
            if (!v) {
                /* OpenBao removed mlock; asking for it cannot be honoured. */
                key_fail(&b, m,
                         "only true is supported (memory locking is "
                         "not implemented)");
                goto out;
            }
        }
    }
    if (top.log_level) {
        vpd_log_level lv;
        if (vpd_log_level_parse(top.log_level, &lv) != 0) {
            key_fail(&b, last_member(root, "log_level"),
                     "unknown log level \"%s\" (use trace, debug, info, warn "
                     "or error)",
                     vpd_msg_text(top.log_level));
            goto out;
        }
    }
    if (top.log_format) {
        vpd_log_format lf;
        if (vpd_log_format_parse(top.log_format, &lf) != 0) {
            key_fail(&b, last_member(root, "log_format"),
                     "unknown log format \"%s\" (use standard or json)",
                     vpd_msg_text(top.log_format));
            goto out;
        }
    }

    for (size_t i = 0; i < sizeof top_blocks / sizeof top_blocks[0]; i++) {
        const top_block *tb = &top_blocks[i];
        if (tb->repeatable) {
            if (tb->load_all(ld, root, file) != 0)
                goto out;
            continue;
        }
        blocks one = {0};
        const block *bl = NULL;
        int brc = collect_single(&b, root, tb->name, tb->too_many, &bl, &one);
        if (brc == 0 && bl)
            brc = tb->load_one(ld, bl);
        free(one.v);
        if (brc != 0)
            goto out;
    }

    merge_top_scalars(cfg, &top);
    rc = 0;
out:
    free_top_scalars(&top);
    return rc;
}

/* ---- files and directories ---------------------------------------------- */

static int
add_file(loader *ld, const char *path)
{
    vpd_config *cfg = ld->cfg;
    vpd_cfg_tree *nt = realloc(cfg->trees, (cfg->n_trees + 1) * sizeof(*nt));
    if (!nt)
        return cfail(&ld->c, path, 0, "out of memory");
    cfg->trees = nt;
    vpd_cfg_tree *t = &cfg->trees[cfg->n_trees];
    if (vpd_cfg_parse_file(path, t, ld->c.err, ld->c.err_len) != 0)
        return -1;
    cfg->n_trees++;
    return load_tree(ld, t);
}

/* Editor temporary files: vim's "x~", emacs's ".#x" and "#x#". */
static bool
is_temporary(const char *name)
{
    size_t n = strlen(name);
    return (n > 0 && name[n - 1] == '~') || strncmp(name, ".#", 2) == 0 ||
           (n >= 2 && name[0] == '#' && name[n - 1] == '#');
}

static bool
has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular .hcl/.json file of dir.  Sorted by name: a deliberate
 * difference from Vault (LoadConfigDir merges in directory-read order),
 * so that the later-wins merge does not depend on the file system. */
static int
add_dir(loader *ld, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return cfail(&ld->c, dir, 0, "cannot read directory: %s",
                     strerror(errno));
    char **names = NULL;
    size_t n = 0;
    int rc = -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (!(has_suffix(name, ".hcl") || has_suffix(name, ".json")) ||
            is_temporary(name))
            continue;
        size_t len = strlen(dir) + strlen(name) + 2;
        char *path = malloc(len);
        if (!path)
            goto oom;
        snprintf(path, len, "%s/%s", dir, name);
        /* Sub-directories and special files (a FIFO would block the read)
         * are skipped. */
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        char **nn = realloc(names, (n + 1) * sizeof(*nn));
        if (!nn) {
            free(path);
            goto oom;
        }
        names = nn;
        names[n++] = path;
    }
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_names);
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = add_file(ld, names[i]);
    goto out;
oom:
    cfail(&ld->c, dir, 0, "out of memory");
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

/* ---- validation: what Vault Proxy refuses at start ------------------------
 */

static int
validate(loader *ld, const char *first_path)
{
    vpd_config *cfg = ld->cfg;
    cctx *c = &ld->c;
    bool use_token =
        cfg->api_proxy.present &&
        cfg->api_proxy.use_auto_auth_token != VPD_AUTO_AUTH_TOKEN_FALSE;
    if (cfg->cache.present && cfg->n_listeners == 0)
        return cfail(c, ld->cache_at.file, ld->cache_at.line,
                     "enabling the cache requires at least 1 listener to be "
                     "defined");
    if (cfg->api_proxy.present && cfg->n_listeners == 0)
        return cfail(c, ld->api_proxy_at.file, ld->api_proxy_at.line,
                     "configuring the api_proxy requires at least 1 listener "
                     "to be defined");
    if (use_token && !cfg->auto_auth.present)
        return cfail(c, ld->use_token_at.file, ld->use_token_at.line,
                     "api_proxy.use_auto_auth_token is true but auto_auth not "
                     "configured");
    if (use_token && cfg->auto_auth.method.wrap_ttl_ms > 0)
        return cfail(c, ld->use_token_at.file, ld->use_token_at.line,
                     "api_proxy.use_auto_auth_token is true and auto_auth "
                     "uses wrapping");
    if (validate_agent(ld, first_path) != 0)
        return -1;
    /* Vault Agent: templates use the token too, so they count as a use. */
    bool agent = cfg->n_templates || cfg->n_env_templates;
    if (cfg->auto_auth.present && cfg->auto_auth.n_sinks == 0 && !use_token &&
        !agent)
        return cfail(c, ld->auto_auth_at.file, ld->auto_auth_at.line,
                     "auto_auth requires at least one sink or "
                     "api_proxy.use_auto_auth_token=true");
    /* Vault refuses both at start: static secrets are kept fresh with the
     * auto-auth token, and turning off the lease cache alone would leave
     * a cache block that caches nothing. */
    if (cfg->cache.present && cfg->cache.cache_static_secrets &&
        !cfg->auto_auth.present)
        return cfail(c, ld->cache_at.file, ld->cache_at.line,
                     "cache.cache_static_secrets=true requires an auto-auth "
                     "block configured, to use the token to connect with "
                     "Vault's event system successfully");
    if (cfg->cache.present && cfg->cache.disable_caching_dynamic_secrets &&
        !cfg->cache.cache_static_secrets)
        return cfail(c, ld->cache_at.file, ld->cache_at.line,
                     "to disable caching dynamic secrets, "
                     "cache.cache_static_secrets must be true");
    if (!cfg->auto_auth.present && !cfg->cache.present && cfg->n_listeners == 0)
        if (!cfg->auto_auth.present && !cfg->cache.present &&
            cfg->n_listeners == 0 && !cfg->exec.present)
            return cfail(
                c, first_path, 0,
                "no auto_auth, cache, or listener block found in config");
    return 0;
}

vpd_config *
vpd_config_load(const char *const *paths, size_t n_paths, char *err,
                size_t err_len)
{
    if (err && err_len)
        err[0] = '\0';
    loader ld = {.c = {err, err_len}};
    if (n_paths == 0) {
        if (err && err_len)
            snprintf(err, err_len, "no configuration path given");
        return NULL;
    }
    ld.cfg = calloc(1, sizeof(*ld.cfg));
    if (!ld.cfg) {
        cfail(&ld.c, paths[0], 0, "out of memory");
        return NULL;
    }
    vpd_config *cfg = ld.cfg;
    for (size_t i = 0; i < n_paths; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            cfail(&ld.c, paths[i], 0, "cannot read: %s", strerror(errno));
            goto err;
        }
        int rc = S_ISDIR(st.st_mode) ? add_dir(&ld, paths[i])
                                     : add_file(&ld, paths[i]);
        if (rc != 0)
            goto err;
    }

    /* Defaults for what no file set. */
    if (!cfg->vault.address &&
        !(cfg->vault.address =
              xstrdup(&ld.c, paths[0], 0, DEFAULT_VAULT_ADDRESS)))
        goto err;
    /* log_file naming a directory gets the default file name. */
    size_t lf = cfg->log_file ? strlen(cfg->log_file) : 0;
    if (lf > 0 && cfg->log_file[lf - 1] == '/') {
        char *full = malloc(lf + sizeof("proxy.log"));
        if (!full) {
            cfail(&ld.c, paths[0], 0, "out of memory");
            goto err;
        }
        snprintf(full, lf + sizeof("proxy.log"), "%sproxy.log", cfg->log_file);
        free(cfg->log_file);
        cfg->log_file = full;
    }
    /* No vault block at all: the client still gets 12 retries. */
    if (!ld.vault_present)
        cfg->vault.num_retries = DEFAULT_NUM_RETRIES;
    if (!cfg->api_proxy.enforce_consistency &&
        !(cfg->api_proxy.enforce_consistency =
              xstrdup(&ld.c, paths[0], 0, "never")))
        goto err;
    if (!cfg->api_proxy.when_inconsistent &&
        !(cfg->api_proxy.when_inconsistent =
              xstrdup(&ld.c, paths[0], 0, "fail")))
        goto err;

    if (validate(&ld, paths[0]) != 0)
        goto err;
    return cfg;
err:
    vpd_config_free(cfg);
    return NULL;
}

/* ---- environment: the VAULT_ and BAO_ variables of vaproxyd(8) ---------- */

/* BAO_x, else VAULT_x (api.LookupBaoVariable): an empty BAO_x still wins.
 * Writes the name actually used into name. */
static const char *
lookup_env(const char *(*getenv_fn)(const char *), const char *suffix,
           char *name, size_t name_len)
{
    snprintf(name, name_len, "BAO_%s", suffix);
    const char *v = getenv_fn(name);
    if (v)
        return v;
    snprintf(name, name_len, "VAULT_%s", suffix);
    return getenv_fn(name);
}

static int
set_env_str(char **dst, const char *v, const char *name, char *err,
            size_t err_len)
{
    char *s = NULL;
    if (v[0] && !(s = strdup(v))) {
        snprintf(err, err_len, "%s: out of memory", name);
        return -1;
    }
    free(*dst);
    *dst = s;
    return 0;
}

/* A comma list (parseutil.ParseCommaStringSlice, lower-cased) that
 * replaces the configured list. */
static int
env_disable_list(const char *v, const char *name, const char *what,
                 bool *auto_auth, bool *proxying, char *err, size_t err_len)
{
    bool a = false, p = false;
    const char *s = v;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        char item[64];
        while (len > 0 && isspace((unsigned char)*s)) {
            s++;
            len--;
        }
        while (len > 0 && isspace((unsigned char)s[len - 1]))
            len--;
        if (len >= sizeof(item))
            len = sizeof(item) - 1;
        for (size_t i = 0; i < len; i++)
            item[i] = (char)tolower((unsigned char)s[i]);
        item[len] = '\0';
        if (disable_value(item, &a, &p) != 0) {
            snprintf(err, err_len, "%s: unknown %s value: %s", name, what,
                     vpd_msg_text(item));
            return -1;
        }
        if (!e)
            break;
        s = e + 1;
    }
    *auto_auth = a;
    *proxying = p;
    return 0;
}

int
vpd_config_apply_env(vpd_config *cfg, const char *(*getenv_fn)(const char *),
                     char *err, size_t err_len)
{
    static const struct {
        const char *suffix;
        size_t off;
    } strs[] = {
        {"CACERT", offsetof(vpd_vault_config, ca_cert)},
        {"CAPATH", offsetof(vpd_vault_config, ca_path)},
        {"CLIENT_CERT", offsetof(vpd_vault_config, client_cert)},
        {"CLIENT_KEY", offsetof(vpd_vault_config, client_key)},
        {"TLS_SERVER_NAME", offsetof(vpd_vault_config, tls_server_name)},
        {"NAMESPACE", offsetof(vpd_vault_config, namespace_)},
    };
    char name[64];
    const char *v;
    if (err && err_len)
        err[0] = '\0';

    if ((v = lookup_env(getenv_fn, "ADDR", name, sizeof(name)))) {
        /* Set but empty: the built-in default, as the Go client does. */
        if (set_env_str(&cfg->vault.address, v[0] ? v : DEFAULT_VAULT_ADDRESS,
                        name, err, err_len) != 0)
            return -1;
    }
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if ((v = lookup_env(getenv_fn, strs[i].suffix, name, sizeof(name)))) {
            char **dst = (char **)(void *)((char *)&cfg->vault + strs[i].off);
            if (set_env_str(dst, v, name, err, err_len) != 0)
                return -1;
        }
    }
    /* Any non-empty value means true, even "false", as in Vault's client. */
    if ((v = lookup_env(getenv_fn, "SKIP_VERIFY", name, sizeof(name))))
        cfg->vault.tls_skip_verify = v[0] != '\0';
    if ((v = lookup_env(getenv_fn, "MAX_RETRIES", name, sizeof(name)))) {
        char *end = NULL;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (!v[0] || *end || errno || n < -1 || n > INT_MAX) {
            snprintf(err, err_len, "%s: expected an integer of -1 or more",
                     name);
            return -1;
        }
        cfg->vault.num_retries = n == -1 ? 0 : (int)n;
    }
    if ((v = lookup_env(getenv_fn, "PROXY_DISABLE_IDLE_CONNECTIONS", name,
                        sizeof(name))) &&
        v[0] &&
        env_disable_list(v, name, "disable_idle_connections",
                         &cfg->disable_idle_connections_auto_auth,
                         &cfg->disable_idle_connections_proxying, err,
                         err_len) != 0)
        return -1;
    if ((v = lookup_env(getenv_fn, "PROXY_DISABLE_KEEP_ALIVES", name,
                        sizeof(name))) &&
        v[0] &&
        env_disable_list(v, name, "disable_keep_alives",
                         &cfg->disable_keep_alives_auto_auth,
                         &cfg->disable_keep_alives_proxying, err, err_len) != 0)
        return -1;
    return 0;
}

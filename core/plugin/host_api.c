/* The host table and plugin instances.  Everything a plugin can do to the
 * daemon goes through a function here, so this file is also where the
 * SDK's ownership rules are enforced: strings are copied on the way in,
 * secrets are wiped on the way out. */
#include "autoconf.h"

#include "plugin/host_api.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "config/cfg_copy.h"
#include "config/config.h"
#include "config/config_diff.h"
#include "base/log.h"
#include "plugin/request.h"
#include "base/textutil.h"

#define FILE_MAX (1024 * 1024)

static char init_error[512];

void
vpd_host_clear_init_error(void)
{
    init_error[0] = '\0';
}

const char *
vpd_host_init_error(void)
{
    return init_error;
}

/* ---- secrets ---------------------------------------------------------- */

/* A secret buffer remembers its size just before the bytes handed out, so
 * secret_free can wipe all of it without being told the length. */
char *
vpd_secret_dup(const char *s, size_t len)
{
    size_t *block = malloc(sizeof(size_t) + len + 1);
    if (!block)
        return NULL;
    block[0] = len + 1;
    char *out = (char *)(block + 1);
    if (len)
        memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

void
vpd_secret_free(char *s)
{
    if (!s)
        return;
    size_t *block = (size_t *)s - 1;
    OPENSSL_cleanse(s, block[0]);
    free(block);
}

/* ---- logging and errors ----------------------------------------------- */

static const char *
component_of(const vp_instance_t *inst, char *buf, size_t len)
{
    if (!inst)
        return "proxy.plugin";
    const vpd_instance *vi = (const vpd_instance *)inst;
    snprintf(buf, len, "proxy.%s.%s", vpd_kind_name(vi->kind), inst->name);
    return buf;
}

static void host_log(const vp_instance_t *inst, vp_log_level_t level,
                     const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
host_log(const vp_instance_t *inst, vp_log_level_t level, const char *fmt, ...)
{
    char comp[128];
    va_list ap;
    va_start(ap, fmt);
    vpd_log_level l =
        level <= VP_LOG_ERROR ? (vpd_log_level)level : VPD_LOG_ERROR;
    vpd_vlog(l, component_of(inst, comp, sizeof comp), fmt, ap);
    va_end(ap);
}

static void host_set_error(const vp_instance_t *inst, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
host_set_error(const vp_instance_t *inst, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (inst) {
        vpd_instance *vi = (vpd_instance *)inst;
        vsnprintf(vi->last_error, sizeof vi->last_error, fmt, ap);
    } else {
        vsnprintf(init_error, sizeof init_error, fmt, ap);
    }
    va_end(ap);
}

const char *
vpd_instance_error(const vpd_instance *inst)
{
    return inst->last_error;
}

void
vpd_instance_clear_error(vpd_instance *inst)
{
    inst->last_error[0] = '\0';
}

/* ---- memory ------------------------------------------------------------ */

static void *
host_alloc(size_t size)
{
    return malloc(size);
}

static void *
host_calloc(size_t n, size_t size)
{
    return calloc(n, size);
}

static void
host_free(void *p)
{
    free(p);
}

static char *
host_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- configuration ----------------------------------------------------- */

static const vp_conf_field_t *
schema_field(const vpd_instance *vi, const char *key)
{
    const vp_conf_field_t *f = vi->provide->schema;
    for (; f && f->key; f++) {
        if (strcmp(f->key, key) == 0)
            return f;
    }
    return NULL;
}

/* The configured node for key (last one wins, as in HCL), or NULL. */
static const vpd_cfg_node *
conf_node(const vpd_instance *vi, const char *key)
{
    const vpd_cfg_node *found = NULL;
    if (vi->conf) {
        for (size_t i = 0; i < vi->conf->n_members; i++) {
            if (strcmp(vi->conf->members[i].key, key) == 0)
                found = vi->conf->members[i].value;
        }
    }
    return found;
}

static const char *
conf_pair(const vpd_instance *vi, const char *key)
{
    for (size_t i = 0; i < vi->n_pairs; i++) {
        if (strcmp(vi->pairs[i].key, key) == 0)
            return vi->pairs[i].value;
    }
    return NULL;
}

static int
parse_int_text(const char *s, int base, int64_t *out)
{
    if (!*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, base);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* Converts one value (node, or text from a pair or default) to the field's
 * type.  Returns 0, or -1 with what was expected in `want`. */
static int
conf_convert(vp_conf_type_t type, const vpd_cfg_node *node, const char *text,
             const char **str, int64_t *num, const char **want)
{
    switch (type) {
    case VP_CONF_STRING:
    case VP_CONF_PATH:
        *want = "a string";
        if (node && node->type != VPD_CFG_STRING)
            return -1;
        *str = node ? node->str : text;
        return 0;
    case VP_CONF_INT:
        *want = "an integer";
        if (node && node->type == VPD_CFG_NUMBER && !node->is_float) {
            *num = node->num;
            return 0;
        }
        return parse_int_text(
            node ? (node->type == VPD_CFG_STRING ? node->str : "") : text, 10,
            num);
    case VP_CONF_BOOL: {
        *want = "a bool";
        bool b = false;
        if (node && node->type == VPD_CFG_BOOL) {
            *num = node->boolean;
            return 0;
        }
        if (node && node->type != VPD_CFG_STRING)
            return -1;
        if (vpd_parse_go_bool(node ? node->str : text, &b) != 0)
            return -1;
        *num = b;
        return 0;
    }
    case VP_CONF_DURATION: {
        *want = "a duration (\"30s\", \"5m\", or seconds)";
        uint64_t ms;
        if (node && node->type == VPD_CFG_NUMBER && !node->is_float &&
            node->num >= 0) {
            *num = node->num * 1000;
            return 0;
        }
        if (node && node->type != VPD_CFG_STRING)
            return -1;
        if (vpd_duration_parse(node ? node->str : text, &ms) != 0)
            return -1;
        *num = (int64_t)ms;
        return 0;
    }
    case VP_CONF_MODE:
        /* HCL's 0640 is already octal; JSON users write "0640" (which
         * fixes hashicorp/vault#9404: JSON has no octal numbers). */
        *want = "a file mode (0640 or \"0640\")";
        if (node && node->type == VPD_CFG_NUMBER && !node->is_float) {
            *num = node->num;
        } else if ((!node || node->type == VPD_CFG_STRING) &&
                   parse_int_text(node ? node->str : text, 8, num) == 0) {
            /* parsed */
        } else {
            return -1;
        }
        return (*num >= 0 && *num <= 07777) ? 0 : -1;
    }
    *want = "a known type";
    return -1;
}

static int
conf_get(const vp_instance_t *inst, const char *key, vp_conf_type_t want_type,
         const char **str, int64_t *num)
{
    const vpd_instance *vi = (const vpd_instance *)inst;
    const vp_conf_field_t *f = schema_field(vi, key);
    const char *want;
    if (!f)
        return VP_EINVAL;
    /* The getter's type must be compatible with the schema's. */
    int text_like = want_type == VP_CONF_STRING;
    int schema_text = f->type == VP_CONF_STRING || f->type == VP_CONF_PATH;
    if (text_like != schema_text)
        return VP_EINVAL;
    const vpd_cfg_node *node = conf_node(vi, key);
    const char *text = node ? NULL : conf_pair(vi, key);
    if (!node && !text)
        text = f->default_value;
    if (!node && !text)
        return VP_ENOENT;
    return conf_convert(f->type, node, text, str, num, &want) == 0 ? 0
                                                                   : VP_EINVAL;
}

static int
host_conf_string(const vp_instance_t *inst, const char *key, const char **out)
{
    int64_t unused;
    return conf_get(inst, key, VP_CONF_STRING, out, &unused);
}

static int
host_conf_int(const vp_instance_t *inst, const char *key, int64_t *out)
{
    const char *unused;
    return conf_get(inst, key, VP_CONF_INT, &unused, out);
}

static int
host_conf_bool(const vp_instance_t *inst, const char *key, int *out)
{
    const char *unused;
    int64_t v = 0;
    int rc = conf_get(inst, key, VP_CONF_BOOL, &unused, &v);
    if (rc == 0)
        *out = v != 0;
    return rc;
}

static int
host_conf_duration_ms(const vp_instance_t *inst, const char *key, uint64_t *out)
{
    const char *unused;
    int64_t v = 0;
    int rc = conf_get(inst, key, VP_CONF_DURATION, &unused, &v);
    if (rc == 0)
        *out = (uint64_t)v;
    return rc;
}

static int
check_schema(const vpd_instance *vi, const char *where, char *err,
             size_t err_len)
{
    const vp_conf_field_t *schema = vi->provide->schema;
    if (vi->conf && vi->conf->type != VPD_CFG_OBJECT) {
        snprintf(err, err_len, "%s:%d: %s: config: expected a map, got %s",
                 vi->conf->file, vi->conf->line, vi->label,
                 vpd_cfg_type_name(vi->conf->type));
        return -1;
    }
    for (size_t i = 0; vi->conf && i < vi->conf->n_members; i++) {
        const vpd_cfg_member *m = &vi->conf->members[i];
        const vp_conf_field_t *f = schema_field(vi, m->key);
        if (!f) {
            const char *best = NULL;
            size_t best_d = 3;
            for (const vp_conf_field_t *s = schema; s && s->key; s++) {
                size_t d = vpd_edit_distance(m->key, s->key);
                if (d < best_d) {
                    best_d = d;
                    best = s->key;
                }
            }
            snprintf(err, err_len, "%s:%d: %s: unknown key \"%s\"%s%s%s",
                     m->value->file, m->line, vi->label, m->key,
                     best ? " (did you mean \"" : "", best ? best : "",
                     best ? "\"?)" : "");
            return -1;
        }
        const char *str, *want;
        int64_t num;
        if (conf_convert(f->type, m->value, NULL, &str, &num, &want) != 0) {
            snprintf(err, err_len, "%s:%d: %s: %s: expected %s, got %s",
                     m->value->file, m->line, vi->label, m->key, want,
                     vpd_cfg_type_name(m->value->type));
            return -1;
        }
    }
    for (const vp_conf_field_t *f = schema; f && f->key; f++) {
        if ((f->flags & VP_CONF_REQUIRED) && !conf_node(vi, f->key) &&
            !conf_pair(vi, f->key)) {
            if (vi->conf)
                snprintf(err, err_len,
                         "%s:%d: %s: missing required key "
                         "\"%s\"",
                         vi->conf->file, vi->conf->line, vi->label, f->key);
            else
                snprintf(err, err_len, "%s: %s: missing required key \"%s\"",
                         where, vi->label, f->key);
            return -1;
        }
    }
    return 0;
}

vpd_instance *
vpd_instance_new(vpd_registry *reg, vp_kind_t kind, const char *name,
                 const vpd_cfg_node *conf, const vpd_conf_pair *pairs,
                 size_t n_pairs, const char *where, char *err, size_t err_len)
{
    vpd_plugin *owner = NULL;
    const vp_provide_t *p = vpd_plugins_find(reg, kind, name, &owner);
    if (!p) {
        snprintf(err, err_len,
                 "%s: no plugin provides %s \"%s\" (is it in "
                 "--plugin-dir?)",
                 where, vpd_kind_name(kind), name);
        return NULL;
    }
    vpd_instance *vi = calloc(1, sizeof *vi);
    if (!vi) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    vi->pub.host = vpd_host_api();
    vi->pub.name = p->name;
    vi->kind = kind;
    vi->provide = p;
    vi->plugin = owner;
    if (vpd_cfg_copy(conf, &vi->conf) != 0) {
        free(vi);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    snprintf(vi->label, sizeof vi->label, "%s \"%s\"", vpd_kind_name(kind),
             name);
    if (n_pairs) {
        vi->pairs = calloc(n_pairs, sizeof *vi->pairs);
        if (!vi->pairs) {
            vpd_instance_free(vi);
            snprintf(err, err_len, "out of memory");
            return NULL;
        }
        vi->n_pairs = n_pairs;
        for (size_t i = 0; i < n_pairs; i++) {
            vi->pairs[i].key = strdup(pairs[i].key);
            vi->pairs[i].value = strdup(pairs[i].value);
            if (!vi->pairs[i].key || !vi->pairs[i].value) {
                vpd_instance_free(vi);
                snprintf(err, err_len, "out of memory");
                return NULL;
            }
        }
    }
    if (check_schema(vi, where, err, err_len) != 0) {
        vpd_instance_free(vi);
        return NULL;
    }
    /* Every ops table starts with size, then create. */
    int (*create)(vp_instance_t *) = NULL;
    switch (kind) {
    case VP_KIND_AUTH:
        create = ((const vp_auth_ops_t *)p->ops)->create;
        break;
    case VP_KIND_CACHE:
        create = ((const vp_cache_ops_t *)p->ops)->create;
        break;
    case VP_KIND_CONSISTENCY:
        create = ((const vp_consistency_ops_t *)p->ops)->create;
        break;
    }
    if (create) {
        int rc = create(&vi->pub);
        if (rc != 0) {
            snprintf(err, err_len, "%s: %s: %s", where, vi->label,
                     vi->last_error[0] ? vi->last_error
                                       : "the plugin refused its config");
            vpd_instance_free(vi);
            return NULL;
        }
    }
    vi->created = true;
    owner->live_instances++;
    return vi;
}

void
vpd_instance_free(vpd_instance *vi)
{
    if (!vi)
        return;
    if (vi->created) {
        void (*destroy)(vp_instance_t *) = NULL;
        switch (vi->kind) {
        case VP_KIND_AUTH:
            destroy = ((const vp_auth_ops_t *)vi->provide->ops)->destroy;
            break;
        case VP_KIND_CACHE:
            destroy = ((const vp_cache_ops_t *)vi->provide->ops)->destroy;
            break;
        case VP_KIND_CONSISTENCY:
            destroy = ((const vp_consistency_ops_t *)vi->provide->ops)->destroy;
            break;
        }
        if (destroy)
            destroy(&vi->pub);
        vi->plugin->live_instances--;
    }
    /* The configuration goes after destroy: the plugin's state may point
     * at its strings until then. */
    vpd_cfg_copy_free(vi->conf);
    for (size_t i = 0; i < vi->n_pairs; i++) {
        free((char *)vi->pairs[i].key);
        free((char *)vi->pairs[i].value);
    }
    free(vi->pairs);
    free(vi);
}

static bool
pairs_equal(const vpd_instance *a, const vpd_instance *b)
{
    if (a->n_pairs != b->n_pairs)
        return false;
    for (size_t i = 0; i < a->n_pairs; i++) {
        if (strcmp(a->pairs[i].key, b->pairs[i].key) != 0 ||
            strcmp(a->pairs[i].value, b->pairs[i].value) != 0)
            return false;
    }
    return true;
}

bool
vpd_instance_same_config(const vpd_instance *a, const vpd_instance *b)
{
    return a->provide == b->provide && vpd_cfg_node_equal(a->conf, b->conf) &&
           pairs_equal(a, b);
}

/* An op added after ABI 1.0 exists only when the plugin was built against
 * a minor that has it AND its table is long enough to hold it: the size
 * is checked before the member is read, so a 1.0 table is never read past
 * its end, and the minor guards against a table padded by hand. */
#define OPS_HAS(type, ops, member, since_minor, plugin_minor)                  \
    ((plugin_minor) >= (since_minor) &&                                        \
     ((const type *)(ops))->size >=                                            \
         offsetof(type, member) + sizeof(((const type *)0)->member))

int (*vpd_instance_reconfigure_op(const vpd_instance *vi))(vp_instance_t *,
                                                           vp_instance_t *)
{
    const void *ops = vi->provide->ops;
    unsigned minor = vi->plugin ? vi->plugin->desc->abi_minor : 0;
    switch (vi->kind) {
    case VP_KIND_CACHE:
        if (OPS_HAS(vp_cache_ops_t, ops, reconfigure, 1, minor))
            return ((const vp_cache_ops_t *)ops)->reconfigure;
        break;
    case VP_KIND_CONSISTENCY:
        if (OPS_HAS(vp_consistency_ops_t, ops, reconfigure, 1, minor))
            return ((const vp_consistency_ops_t *)ops)->reconfigure;
        break;
    case VP_KIND_AUTH:
        break;
    }
    return NULL;
}

int
vpd_instance_reconfigure(vpd_instance *vi, vpd_instance *next, char *err,
                         size_t err_len)
{
    int (*reconfigure)(vp_instance_t *, vp_instance_t *) =
        vpd_instance_reconfigure_op(vi);
    if (!reconfigure || next->provide != vi->provide) {
        snprintf(err, err_len, "%s: cannot be reconfigured", vi->label);
        return VP_ENOTSUP;
    }
    vpd_instance_clear_error(vi);
    int rc = reconfigure(&vi->pub, &next->pub);
    if (rc != 0) {
        snprintf(err, err_len, "%s: %s", vi->label,
                 vi->last_error[0] ? vi->last_error
                                   : "the plugin refused its new config");
        return rc < 0 ? rc : VP_EINVAL;
    }
    /* Exchange the configurations: inst reads the new one from now on;
     * the old one is released with next, after next's destroy. */
    vpd_cfg_node *conf = vi->conf;
    vi->conf = next->conf;
    next->conf = conf;
    vpd_conf_pair *pairs = vi->pairs;
    size_t n_pairs = vi->n_pairs;
    vi->pairs = next->pairs;
    vi->n_pairs = next->n_pairs;
    next->pairs = pairs;
    next->n_pairs = n_pairs;
    return 0;
}

/* ---- files ------------------------------------------------------------- */

static int
host_read_file(const vp_instance_t *inst, const char *path, int trim,
               char **out, size_t *out_len)
{
    vpd_instance *vi = (vpd_instance *)inst;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        if (vi)
            host_set_error(inst, "cannot read %s: %s", path, strerror(e));
        return e == ENOENT ? VP_ENOENT : VP_EIO;
    }
    vpd_buf b = VPD_BUF_INIT;
    char chunk[4096];
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            host_set_error(inst, "cannot read %s: %s", path, strerror(errno));
            rc = VP_EIO;
            break;
        }
        if (n == 0)
            break;
        if (b.len + (size_t)n > FILE_MAX) {
            host_set_error(inst, "%s is larger than 1 MiB", path);
            rc = VP_EIO;
            break;
        }
        if (vpd_buf_append(&b, chunk, (size_t)n) != 0) {
            rc = VP_ENOMEM;
            break;
        }
    }
    OPENSSL_cleanse(chunk, sizeof chunk);
    close(fd);
    if (rc != 0) {
        vpd_buf_free_secret(&b);
        return rc;
    }
    const char *start = b.data ? b.data : "";
    size_t len = b.len;
    if (trim) {
        while (len && isspace((unsigned char)*start)) {
            start++;
            len--;
        }
        while (len && isspace((unsigned char)start[len - 1]))
            len--;
    }
    *out = vpd_secret_dup(start, len);
    vpd_buf_free_secret(&b);
    if (!*out)
        return VP_ENOMEM;
    if (out_len)
        *out_len = len;
    return 0;
}

/* ---- JSON -------------------------------------------------------------- */

static int
host_json_get_string(const char *json, size_t len, const char *path, char **out)
{
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return VP_ENOMEM;
    json_object *root = json_tokener_parse_ex(tok, json, (int)len);
    int ok = root && json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(root);
        return VP_EINVAL;
    }
    json_object *cur = root;
    char part[128];
    const char *p = path;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof part) {
            cur = NULL;
            break;
        }
        memcpy(part, p, n);
        part[n] = '\0';
        json_object *next = NULL;
        if (!json_object_is_type(cur, json_type_object) ||
            !json_object_object_get_ex(cur, part, &next))
            cur = NULL;
        else
            cur = next;
        p += n + (dot ? 1 : 0);
    }
    int rc = VP_ENOENT;
    if (cur && json_object_is_type(cur, json_type_string)) {
        *out = vpd_secret_dup(json_object_get_string(cur),
                              (size_t)json_object_get_string_len(cur));
        rc = *out ? 0 : VP_ENOMEM;
    }
    json_object_put(root);
    return rc;
}

static char *
host_json_object_from_pairs(const char *const *pairs)
{
    json_object *obj = json_object_new_object();
    if (!obj)
        return NULL;
    for (size_t i = 0; pairs[i]; i += 2) {
        if (!pairs[i + 1])
            continue;
        json_object_object_add(obj, pairs[i],
                               json_object_new_string(pairs[i + 1]));
    }
    size_t len = 0;
    const char *text =
        json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &len);
    char *out = vpd_secret_dup(text, len);
    /* json-c keeps its own copies of the values; wipe the serialisation
     * buffer before it is freed. */
    OPENSSL_cleanse((char *)text, len);
    json_object_put(obj);
    return out;
}

/* ---- login requests ---------------------------------------------------- */

vp_login_t *
vpd_login_new(void)
{
    return calloc(1, sizeof(vp_login_t));
}

void
vpd_login_reset(vp_login_t *l)
{
    free(l->path);
    vpd_secret_free(l->body);
    vpd_secret_free(l->token);
    vpd_hdrs_free(&l->headers);
    free(l->client_cert);
    free(l->client_key);
    free(l->ca_cert);
    memset(l, 0, sizeof *l);
}

void
vpd_login_free(vp_login_t *l)
{
    if (!l)
        return;
    vpd_login_reset(l);
    free(l);
}

static int
replace_str(char **slot, const char *value)
{
    char *copy = NULL;
    if (value && !(copy = strdup(value)))
        return VP_ENOMEM;
    free(*slot);
    *slot = copy;
    return 0;
}

static int
replace_secret(char **slot, const char *value)
{
    char *copy = NULL;
    if (value && !(copy = vpd_secret_dup(value, strlen(value))))
        return VP_ENOMEM;
    vpd_secret_free(*slot);
    *slot = copy;
    return 0;
}

static int
host_login_set_request(vp_login_t *l, const char *method, const char *path)
{
    if (!method || strlen(method) >= sizeof l->method || !path)
        return VP_EINVAL;
    while (*path == '/')
        path++;
    snprintf(l->method, sizeof l->method, "%s", method);
    return replace_str(&l->path, path);
}

static int
host_login_set_body(vp_login_t *l, const char *json)
{
    return replace_secret(&l->body, json);
}

static int
host_login_set_token(vp_login_t *l, const char *token)
{
    return replace_secret(&l->token, token);
}

static int
host_login_add_header(vp_login_t *l, const char *name, const char *value)
{
    return vpd_hdrs_add(&l->headers, name, value) == 0 ? 0 : VP_ENOMEM;
}

static int
host_login_set_tls(vp_login_t *l, const char *cert, const char *key,
                   const char *ca)
{
    if (replace_str(&l->client_cert, cert) ||
        replace_str(&l->client_key, key) || replace_str(&l->ca_cert, ca))
        return VP_ENOMEM;
    return 0;
}

static const char *
host_login_method(const vp_login_t *l)
{
    return l->method;
}

static const char *
host_login_path(const vp_login_t *l)
{
    return l->path ? l->path : "";
}

static int
host_login_set_result(vp_login_t *l, vp_login_result_t where)
{
    if (where != VP_LOGIN_RESULT_AUTH && where != VP_LOGIN_RESULT_LOOKUP)
        return VP_EINVAL;
    l->result = where;
    return 0;
}

/* ---- proxied requests -------------------------------------------------- */

static const char *
host_req_method(const vp_req_t *r)
{
    return r->http->method;
}

static const char *
host_req_path(const vp_req_t *r)
{
    return r->http->path;
}

static const char *
host_req_token(const vp_req_t *r)
{
    return r->token ? r->token : "";
}

static const char *
host_req_header(const vp_req_t *r, const char *name, size_t idx)
{
    return vpd_hdrs_get(&r->up_headers, name, idx);
}

static size_t
host_req_header_count(const vp_req_t *r, const char *name)
{
    return vpd_hdrs_count(&r->up_headers, name);
}

static int
host_req_header_add(vp_req_t *r, const char *name, const char *value)
{
    if (vpd_hdr_is_hop_by_hop(name) || strcasecmp(name, "Host") == 0)
        return VP_EINVAL;
    return vpd_hdrs_add(&r->up_headers, name, value) == 0 ? 0 : VP_ENOMEM;
}

static size_t
host_req_header_remove(vp_req_t *r, const char *name)
{
    return vpd_hdrs_del(&r->up_headers, name);
}

static int
host_resp_status(const vp_req_t *r)
{
    return r->resp && r->resp->error == VPD_FWD_OK ? r->resp->status : 0;
}

static const char *
host_resp_header(const vp_req_t *r, const char *name, size_t idx)
{
    return r->resp ? vpd_hdrs_get(&r->resp->headers, name, idx) : NULL;
}

static size_t
host_resp_header_count(const vp_req_t *r, const char *name)
{
    return r->resp ? vpd_hdrs_count(&r->resp->headers, name) : 0;
}

static vp_str_t
host_resp_body(const vp_req_t *r)
{
    vp_str_t s = {"", 0};
    if (r->resp && r->resp->body) {
        s.ptr = r->resp->body;
        s.len = r->resp->body_len;
    }
    return s;
}

static int
host_resp_header_add(vp_req_t *r, const char *name, const char *value)
{
    return vpd_hdrs_add(&r->extra_resp_headers, name, value) == 0 ? 0
                                                                  : VP_ENOMEM;
}

static int
host_req_respond(vp_req_t *r, int status, const char *content_type,
                 const char *body, size_t len)
{
    if (status < 100 || status > 599)
        return VP_EINVAL;
    char *copy = malloc(len + 1);
    if (!copy)
        return VP_ENOMEM;
    if (len)
        memcpy(copy, body, len);
    copy[len] = '\0';
    free(r->answer_body);
    vpd_hdrs_free(&r->answer_headers);
    if (content_type)
        vpd_hdrs_add(&r->answer_headers, "Content-Type", content_type);
    r->answer_body = copy;
    r->answer_len = len;
    r->answer_status = status;
    r->answered = true;
    return 0;
}

static int
host_req_attempts(const vp_req_t *r)
{
    return r->attempts;
}

static int
host_req_ctx_set(vp_req_t *r, const vp_instance_t *inst, void *ptr,
                 void (*cleanup)(void *))
{
    for (size_t i = 0; i < r->n_ctx; i++) {
        if (r->ctx[i].inst == inst) {
            if (r->ctx[i].cleanup && r->ctx[i].ptr != ptr)
                r->ctx[i].cleanup(r->ctx[i].ptr);
            r->ctx[i].ptr = ptr;
            r->ctx[i].cleanup = cleanup;
            return 0;
        }
    }
    if (r->n_ctx == VPD_REQ_CTX_MAX)
        return VP_EFULL;
    r->ctx[r->n_ctx++] = (vpd_req_ctx){inst, ptr, cleanup};
    return 0;
}

static void *
host_req_ctx_get(const vp_req_t *r, const vp_instance_t *inst)
{
    for (size_t i = 0; i < r->n_ctx; i++) {
        if (r->ctx[i].inst == inst)
            return r->ctx[i].ptr;
    }
    return NULL;
}

void
vpd_req_release(vp_req_t *r)
{
    for (size_t i = 0; i < r->n_ctx; i++) {
        if (r->ctx[i].cleanup)
            r->ctx[i].cleanup(r->ctx[i].ptr);
    }
    r->n_ctx = 0;
    vpd_hdrs_free(&r->up_headers);
    vpd_hdrs_free(&r->extra_resp_headers);
    vpd_hdrs_free(&r->answer_headers);
    free(r->answer_body);
    r->answer_body = NULL;
    vpd_secret_free(r->token);
    r->token = NULL;
}

/* ---- time and randomness ----------------------------------------------- */

static uint64_t
host_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
host_random_bytes(void *buf, size_t len)
{
    return RAND_bytes(buf, (int)len) == 1 ? 0 : VP_EIO;
}

static const vp_host_api_t host_table = {
    .size = sizeof(vp_host_api_t),
    .abi_major = VP_ABI_MAJOR,
    .abi_minor = VP_ABI_MINOR,
    .log = host_log,
    .set_error = host_set_error,
    .alloc = host_alloc,
    .calloc = host_calloc,
    .free = host_free,
    .strdup = host_strdup,
    .secret_dup = vpd_secret_dup,
    .secret_free = vpd_secret_free,
    .conf_string = host_conf_string,
    .conf_int = host_conf_int,
    .conf_bool = host_conf_bool,
    .conf_duration_ms = host_conf_duration_ms,
    .read_file = host_read_file,
    .json_get_string = host_json_get_string,
    .json_object_from_pairs = host_json_object_from_pairs,
    .login_set_request = host_login_set_request,
    .login_set_body = host_login_set_body,
    .login_set_token = host_login_set_token,
    .login_add_header = host_login_add_header,
    .login_set_tls = host_login_set_tls,
    .login_set_result = host_login_set_result,
    .req_method = host_req_method,
    .req_path = host_req_path,
    .req_token = host_req_token,
    .req_header = host_req_header,
    .req_header_count = host_req_header_count,
    .req_header_add = host_req_header_add,
    .req_header_remove = host_req_header_remove,
    .resp_status = host_resp_status,
    .resp_header = host_resp_header,
    .resp_header_count = host_resp_header_count,
    .resp_body = host_resp_body,
    .resp_header_add = host_resp_header_add,
    .req_respond = host_req_respond,
    .req_attempts = host_req_attempts,
    .req_ctx_set = host_req_ctx_set,
    .req_ctx_get = host_req_ctx_get,
    .now_ms = host_now_ms,
    .random_bytes = host_random_bytes,
    .login_method = host_login_method,
    .login_path = host_login_path,
};

const vp_host_api_t *
vpd_host_api(void)
{
    return &host_table;
}

/* Header lists, reason phrases and Vault-style error bodies: the pieces of
 * HTTP that the listener side and the forwarder side share.
 *
 * Header values may carry tokens (X-Vault-Token, Authorization), so every
 * value is wiped before its memory goes back to the allocator. */
#include "autoconf.h"

#include "http/http.h"

#include <json.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"

/* A header is one allocation, "name\0value\0": half the malloc calls of
 * two copies, on the path every request takes several times. */
static void
free_header(vpd_hdr *hd)
{
    if (hd->value)
        explicit_bzero(hd->value, strlen(hd->value));
    free(hd->name);
}

int
vpd_hdrs_addn(vpd_hdrs *h, const char *name, size_t name_len, const char *value,
              size_t value_len)
{
    if (!h || !name)
        return -1;
    if (!value) {
        value = "";
        value_len = 0;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        if (cap > ((size_t)-1) / sizeof(vpd_hdr))
            return -1;
        vpd_hdr *v = realloc(h->v, cap * sizeof(vpd_hdr));
        if (!v)
            return -1;
        h->v = v;
        h->cap = cap;
    }
    if (name_len > ((size_t)-1) / 2 || value_len > ((size_t)-1) / 2)
        return -1;
    char *n = malloc(name_len + value_len + 2);
    if (!n)
        return -1;
    memcpy(n, name, name_len);
    n[name_len] = '\0';
    char *val = n + name_len + 1;
    if (value_len)
        memcpy(val, value, value_len);
    val[value_len] = '\0';
    h->v[h->n].name = n;
    h->v[h->n].value = val;
    h->n++;
    return 0;
}

int
vpd_hdrs_add(vpd_hdrs *h, const char *name, const char *value)
{
    if (!name)
        return -1;
    return vpd_hdrs_addn(h, name, strlen(name), value,
                         value ? strlen(value) : 0);
}

const char *
vpd_hdrs_get(const vpd_hdrs *h, const char *name, size_t idx)
{
    if (!h || !name)
        return NULL;
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->v[i].name, name) == 0) {
            if (idx == 0)
                return h->v[i].value;
            idx--;
        }
    }
    return NULL;
}

size_t
vpd_hdrs_count(const vpd_hdrs *h, const char *name)
{
    size_t c = 0;
    if (!h || !name)
        return 0;
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->v[i].name, name) == 0)
            c++;
    return c;
}

size_t
vpd_hdrs_del(vpd_hdrs *h, const char *name)
{
    size_t gone = 0, j = 0;
    if (!h || !name)
        return 0;
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->v[i].name, name) == 0) {
            free_header(&h->v[i]);
            gone++;
        } else {
            h->v[j++] = h->v[i];
        }
    }
    h->n = j;
    return gone;
}

int
vpd_hdrs_copy(vpd_hdrs *dst, const vpd_hdrs *src)
{
    if (!dst)
        return -1;
    if (!src)
        return 0;
    for (size_t i = 0; i < src->n; i++)
        if (vpd_hdrs_add(dst, src->v[i].name, src->v[i].value) != 0)
            return -1;
    return 0;
}

void
vpd_hdrs_free(vpd_hdrs *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++) {
        free_header(&h->v[i]);
    }
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

void
vpd_hdrs_clear(vpd_hdrs *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        free_header(&h->v[i]);
    h->n = 0;
}

#define NAME_IS(n, nl, lit)                                                    \
    ((nl) == sizeof lit - 1 && strncasecmp((n), lit, sizeof lit - 1) == 0)

bool
vpd_hdr_is_hop_by_hop(const char *name)
{
    /* RFC 9110 7.6.1 plus the legacy names Go's reverse proxy also drops:
     * Connection, Proxy-Connection, Keep-Alive, Proxy-Authenticate,
     * Proxy-Authorization, TE, Trailer, Transfer-Encoding, Upgrade.
     * Picked by length first: this runs for every header of every
     * request. */
    return name && vpd_hdr_is_hop_by_hop_n(name, strlen(name));
}

bool
vpd_hdr_is_hop_by_hop_n(const char *name, size_t nl)
{
    switch (nl) {
    case 2:
        return NAME_IS(name, nl, "TE");
    case 7:
        return NAME_IS(name, nl, "Trailer") || NAME_IS(name, nl, "Upgrade");
    case 10:
        return NAME_IS(name, nl, "Connection") ||
               NAME_IS(name, nl, "Keep-Alive");
    case 16:
        return NAME_IS(name, nl, "Proxy-Connection");
    case 17:
        return NAME_IS(name, nl, "Transfer-Encoding");
    case 18:
        return NAME_IS(name, nl, "Proxy-Authenticate");
    case 19:
        return NAME_IS(name, nl, "Proxy-Authorization");
    default:
        return false;
    }
}

const char *
vpd_http_reason(int status)
{
    static const struct {
        int code;
        const char *text;
    } reasons[] = {
        {100, "Continue"},
        {101, "Switching Protocols"},
        {102, "Processing"},
        {103, "Early Hints"},
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {203, "Non-Authoritative Information"},
        {204, "No Content"},
        {205, "Reset Content"},
        {206, "Partial Content"},
        {207, "Multi-Status"},
        {208, "Already Reported"},
        {226, "IM Used"},
        {300, "Multiple Choices"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {303, "See Other"},
        {304, "Not Modified"},
        {305, "Use Proxy"},
        {307, "Temporary Redirect"},
        {308, "Permanent Redirect"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {402, "Payment Required"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {406, "Not Acceptable"},
        {407, "Proxy Authentication Required"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {410, "Gone"},
        {411, "Length Required"},
        {412, "Precondition Failed"},
        {413, "Request Entity Too Large"},
        {414, "Request URI Too Long"},
        {415, "Unsupported Media Type"},
        {416, "Requested Range Not Satisfiable"},
        {417, "Expectation Failed"},
        {418, "I'm a teapot"},
        {421, "Misdirected Request"},
        {422, "Unprocessable Entity"},
        {423, "Locked"},
        {424, "Failed Dependency"},
        {425, "Too Early"},
        {426, "Upgrade Required"},
        {428, "Precondition Required"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {451, "Unavailable For Legal Reasons"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
        {506, "Variant Also Negotiates"},
        {507, "Insufficient Storage"},
        {508, "Loop Detected"},
        {510, "Not Extended"},
        {511, "Network Authentication Required"},
    };
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].code == status)
            return reasons[i].text;
    return "";
}

char *
vpd_http_error_json(const char *msg, size_t *len)
{
    json_object *arr = json_object_new_array();
    json_object *obj = json_object_new_object();
    json_object *str = json_object_new_string(msg ? msg : "");
    char *out = NULL;
    if (!arr || !obj || !str) {
        json_object_put(arr);
        json_object_put(obj);
        json_object_put(str);
        return NULL;
    }
    json_object_array_add(arr, str);
    json_object_object_add(obj, "errors", arr);
    const char *s = json_object_to_json_string_ext(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    /* Go's encoding/json escapes <, > and & for HTML safety; Vault's error
     * bodies come from it, so clients comparing bytes see the same text. */
    vpd_buf b = VPD_BUF_INIT;
    int rc = 0;
    for (const char *p = s; p && *p && rc == 0; p++) {
        switch (*p) {
        case '<':
            rc = vpd_buf_append(&b, "\\u003c", 6);
            break;
        case '>':
            rc = vpd_buf_append(&b, "\\u003e", 6);
            break;
        case '&':
            rc = vpd_buf_append(&b, "\\u0026", 6);
            break;
        default:
            rc = vpd_buf_append(&b, p, 1);
            break;
        }
    }
    if (rc == 0)
        rc = vpd_buf_append(&b, "\n", 1);
    json_object_put(obj);
    if (rc != 0) {
        vpd_buf_free(&b);
        return NULL;
    }
    if (len)
        *len = b.len;
    out = vpd_buf_steal(&b);
    return out;
}

void
vpd_http_respond_error(vpd_http_req *req, int status, const char *msg)
{
    static const char fallback[] = "{\"errors\":[\"internal error\"]}\n";
    vpd_hdrs h = {0};
    size_t len = 0;
    char *body = vpd_http_error_json(msg, &len);
    /* Out of memory still has to answer: the request must be released. */
    vpd_hdrs_add(&h, "Content-Type", "application/json");
    if (body)
        vpd_http_respond(req, status, &h, body, len);
    else
        vpd_http_respond(req, status, &h, fallback, sizeof fallback - 1);
    free(body);
    vpd_hdrs_free(&h);
}

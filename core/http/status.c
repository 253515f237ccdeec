/* Reason phrases and Vault-style error bodies.  Pure functions: nothing
 * here knows about listeners or connections. */
#include "autoconf.h"

#include "http/status.h"

#include <json.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

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

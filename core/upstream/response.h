/* The reader of one HTTP/1.1 answer from an upstream (Vault, or an egress
 * proxy answering CONNECT): llhttp in response mode, interim 1xx answers
 * skipped, no body read for HEAD, 204 and 304, obsolete line folding
 * joined, and a bound on the size of the head.  It knows nothing of
 * sockets, so the fuzz target drives it exactly as connections do.
 *
 * Ownership: the reader appends to the caller's header list and body
 * buffer (either may be NULL: not kept); it owns only its scratch buffer,
 * which vpd_up_resp_free wipes and releases. */
#ifndef VPD_UP_RESPONSE_H
#define VPD_UP_RESPONSE_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "http/http.h"

/* Bytes of response head (status line and header lines) accepted before
 * the answer counts as broken: bounds the memory a server can make us
 * spend on it. */
#define VPD_UP_MAX_HEAD_BYTES (256 * 1024)

typedef enum {
    VPD_UP_RESP_MORE = 0, /* all bytes taken, the answer is not complete */
    VPD_UP_RESP_DONE,     /* complete; *used tells how many bytes it took */
    VPD_UP_RESP_ERROR,    /* malformed, too big, or out of memory */
} vpd_up_resp_result;

typedef struct {
    llhttp_t parser;
    vpd_hdrs *headers;
    vpd_buf *body;
    bool tunnel;  /* the answer to CONNECT: a 2xx ends at its head */
    bool is_head; /* the answer to HEAD */
    int status;   /* of the final answer, once its head is read */
    bool done;
    /* The header being read: "name\0value" in `field`; or, while it is
     * one unbroken piece of the bytes being fed (the usual case), only
     * where its name and value lie in them (`spans`). */
    vpd_buf field;
    size_t name_len;
    bool in_value;
    bool spans;
    const char *span_name, *span_value;
    size_t span_value_len;
    bool skip_headers; /* an interim or proxy answer's: not kept */
    /* To tell line folds from values cut by the end of a read: the bytes
     * being fed, where the last piece of the value ended, and whether the
     * value ran to the very end of the previous read. */
    const char *input_start, *input_end, *value_end;
    bool value_cut;
    size_t head_bytes;
    bool to_client; /* leave out what a proxy must not pass on */
    /* llhttp's reading for a client: whether Content-Length stays (HEAD,
     * 304), and whether a Connection header named more than Keep-Alive
     * (then the list is left for the forwarder's own filter). */
    bool keep_length, needs_filter;
    char why[96];
} vpd_up_resp;

/* Readies r for a new answer; keeps the scratch buffer's memory. */
void vpd_up_resp_init(vpd_up_resp *r, bool tunnel, bool is_head,
                      vpd_hdrs *headers, vpd_buf *body);

/* Asks the reader to leave out, where it can while reading, the headers
 * a proxy does not pass to its client (call after vpd_up_resp_init). */
void vpd_up_resp_for_client(vpd_up_resp *r);

/* After DONE: whether the header list holds only headers to pass on to
 * the client, so that filtering it again would change nothing. */
bool vpd_up_resp_filtered(const vpd_up_resp *r);

/* Reads n bytes.  On VPD_UP_RESP_DONE, *used bytes were part of the
 * answer (anything after it belongs to nobody). */
vpd_up_resp_result vpd_up_resp_feed(vpd_up_resp *r, const char *p, size_t n,
                                    size_t *used);

/* The connection ended: DONE when that ends a close-delimited answer,
 * ERROR otherwise. */
vpd_up_resp_result vpd_up_resp_eof(vpd_up_resp *r);

/* After DONE: whether the connection may carry another exchange
 * (keep-alive, not upgraded), and whether it switched protocols. */
bool vpd_up_resp_keep_alive(const vpd_up_resp *r);
bool vpd_up_resp_upgraded(const vpd_up_resp *r);

/* After ERROR: why, in a few words. */
const char *vpd_up_resp_error(const vpd_up_resp *r);

void vpd_up_resp_free(vpd_up_resp *r);

#endif

/* RFC 6455 framing for the client side of a WebSocket, with no I/O: frames
 * the client sends are encoded (always masked, as a client must), and the
 * server's bytes are decoded incrementally, whatever way the reads split
 * or join frames.  Data frames are joined into whole messages across
 * fragments; control frames (ping, pong, close) may come between the
 * fragments and are returned as they arrive.  Every violation a client
 * must refuse is reported with the close code to send back.
 *
 * Ownership: the decoder owns its message buffer; a returned message or
 * control payload is valid until the next call on the decoder.  The
 * encoder appends to the caller's buffer. */
#ifndef VPD_WS_FRAME_H
#define VPD_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

enum {
    VPD_WS_OP_CONT = 0x0,
    VPD_WS_OP_TEXT = 0x1,
    VPD_WS_OP_BINARY = 0x2,
    VPD_WS_OP_CLOSE = 0x8,
    VPD_WS_OP_PING = 0x9,
    VPD_WS_OP_PONG = 0xA,
};

/* Close codes (RFC 6455 section 7.4.1) this code sends or reads. */
enum {
    VPD_WS_CLOSE_NORMAL = 1000,
    VPD_WS_CLOSE_GOING_AWAY = 1001,
    VPD_WS_CLOSE_PROTOCOL = 1002,
    VPD_WS_CLOSE_NO_STATUS = 1005, /* never sent: a close without a code */
    VPD_WS_CLOSE_ABNORMAL = 1006,  /* never sent: no close frame at all */
    VPD_WS_CLOSE_BAD_DATA = 1007,  /* text that is not UTF-8 */
    VPD_WS_CLOSE_POLICY = 1008,
    VPD_WS_CLOSE_TOO_BIG = 1009,
    VPD_WS_CLOSE_INTERNAL = 1011,
};

/* A control frame carries at most 125 bytes. */
#define VPD_WS_CONTROL_MAX 125

/* Appends one masked client frame.  opcode is one of VPD_WS_OP_*; mask is
 * the 4-byte masking key, which must come from a strong random source
 * (the caller's).  Control frames must be final and at most 125 bytes.
 * Returns 0, or -1 (out of memory, or a control frame breaking a rule). */
int vpd_ws_encode(vpd_buf *out, unsigned opcode, bool fin, const void *payload,
                  size_t len, const uint8_t mask[4]);

/* Appends a close frame with a code and a reason (truncated to fit 125
 * bytes; code 0 sends an empty close). */
int vpd_ws_encode_close(vpd_buf *out, uint16_t code, const char *reason,
                        const uint8_t mask[4]);

typedef enum {
    VPD_WS_MORE,    /* everything given was used; nothing complete yet */
    VPD_WS_MESSAGE, /* a whole data message: msg, msg_len, msg_opcode */
    VPD_WS_PING,    /* ctl, ctl_len: answer with a pong of the same bytes */
    VPD_WS_PONG,
    VPD_WS_CLOSE, /* close_code, close_reason; the stream ends here */
    VPD_WS_ERROR, /* error, error_code: close with that code */
} vpd_ws_event;

typedef struct {
    /* Limits, set by vpd_ws_decoder_init. */
    uint64_t max_frame;
    size_t max_message;

    /* Results; valid until the next call. */
    const char *msg;
    size_t msg_len;
    unsigned msg_opcode;
    uint8_t ctl[VPD_WS_CONTROL_MAX + 1];
    size_t ctl_len;
    uint16_t close_code;
    char close_reason[VPD_WS_CONTROL_MAX];
    uint16_t error_code;
    const char *error;

    /* Private. */
    uint8_t hdr[14];
    size_t hdr_len, hdr_need;
    unsigned op;
    bool fin;
    uint64_t remaining, frame_len;
    bool in_message, failed, closed;
    unsigned message_op;
    vpd_buf body;
} vpd_ws_decoder;

void vpd_ws_decoder_init(vpd_ws_decoder *d, uint64_t max_frame,
                         size_t max_message);
void vpd_ws_decoder_free(vpd_ws_decoder *d);

/* Decodes from p[0..n): stops after the first event and says in *used how
 * many bytes it took (call again with the rest).  After VPD_WS_CLOSE or
 * VPD_WS_ERROR the decoder takes nothing more. */
vpd_ws_event vpd_ws_decode(vpd_ws_decoder *d, const char *p, size_t n,
                           size_t *used);

/* Whether p[0..n) is well-formed UTF-8 (no overlong forms, surrogates or
 * code points above U+10FFFF), as text messages must be. */
bool vpd_ws_utf8_valid(const char *p, size_t n);

#endif

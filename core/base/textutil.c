#include "autoconf.h"

#include "base/textutil.h"

#include <string.h>

const char *
vpd_msg_text(const char *s)
{
    static char bufs[4][72];
    static int next;
    char *d = bufs[next++ & 3];
    size_t o = 0;
    for (size_t i = 0; s[i] && o < sizeof(bufs[0]) - 4; i++) {
        if (i >= 60) {
            memcpy(d + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char ch = (unsigned char)s[i];
        d[o++] = (ch < 0x20 || ch == 0x7f || ch == '"') ? '?' : (char)ch;
    }
    d[o] = '\0';
    return d;
}

char *
vpd_decimal_backwards(char *buf, size_t cap, unsigned long long v)
{
    char *p = buf + cap;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v && p > buf);
    return p;
}

int
vpd_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

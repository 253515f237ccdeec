/* zlib matches against the preset dictionary as if it preceded the text,
 * so the callers' dictionaries put their most common strings last. */
#include "autoconf.h"

#include "cache/deflate_pack.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define HDR 5
#define WINDOW_BITS (-15) /* raw deflate, 32 KiB window */

struct vpd_deflate_packer {
    z_stream def, inf;
    int def_ok, inf_ok;
    vpd_deflate_params params;
    char *dict; /* params.dict, then an answer's words */
    size_t dict_cap;
};

/* The dictionary for an answer: the packer's own, or a copy of it followed
 * by x's words.  Sets *len; NULL when out of memory. */
static const char *
dictionary(vpd_deflate_packer *p, const vpd_deflate_extra *x, size_t *len)
{
    *len = p->params.dict_len;
    if (!x || !x->words_len)
        return p->params.dict;
    size_t need = p->params.dict_len + x->words_len;
    if (need > p->dict_cap) {
        char *d = malloc(need);
        if (!d)
            return NULL;
        if (p->dict)
            OPENSSL_cleanse(p->dict, p->dict_cap);
        free(p->dict);
        memcpy(d, p->params.dict, p->params.dict_len);
        p->dict = d;
        p->dict_cap = need;
    }
    memcpy(p->dict + p->params.dict_len, x->words, x->words_len);
    *len = need;
    return p->dict;
}

/* The words may be secret (a token): wiped from the scratch copy once zlib
 * has taken the dictionary. */
static void
forget_words(vpd_deflate_packer *p, const vpd_deflate_extra *x)
{
    if (x && x->words_len && p->dict)
        OPENSSL_cleanse(p->dict + p->params.dict_len, x->words_len);
}

vpd_deflate_packer *
vpd_deflate_pack_new(const vpd_deflate_params *params)
{
    if (params->meta_len > VPD_DEFLATE_META_MAX)
        return NULL;
    vpd_deflate_packer *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->params = *params;
    /* memLevel 8: answers are small, and the state is made once. */
    p->def_ok = deflateInit2(&p->def, params->level, Z_DEFLATED, WINDOW_BITS, 8,
                             Z_DEFAULT_STRATEGY) == Z_OK;
    p->inf_ok = inflateInit2(&p->inf, WINDOW_BITS) == Z_OK;
    if (!p->def_ok || !p->inf_ok) {
        vpd_deflate_pack_free(p);
        return NULL;
    }
    return p;
}

void
vpd_deflate_pack_free(vpd_deflate_packer *p)
{
    if (!p)
        return;
    if (p->def_ok)
        deflateEnd(&p->def);
    if (p->inf_ok)
        inflateEnd(&p->inf);
    if (p->dict)
        OPENSSL_cleanse(p->dict, p->dict_cap);
    free(p->dict);
    free(p);
}

/* An exact-size copy of work[0..len), wiping and freeing work: the
 * deflate bound is far above what a long-kept entry needs. */
static char *
shrink(char *work, size_t work_len, size_t len)
{
    char *out = malloc(len);
    if (out)
        memcpy(out, work, len);
    OPENSSL_cleanse(work, work_len);
    free(work);
    return out;
}

char *
vpd_deflate_pack(vpd_deflate_packer *p, const char *text, size_t len,
                 const vpd_deflate_extra *x, size_t *out_len)
{
    if (len >= UINT32_MAX)
        return NULL;
    z_stream *z = &p->def;
    size_t dict_len = 0;
    const char *dict = dictionary(p, x, &dict_len);
    int set =
        dict && deflateReset(z) == Z_OK &&
        deflateSetDictionary(z, (const Bytef *)dict, (uInt)dict_len) == Z_OK;
    forget_words(p, x);
    if (!set)
        return NULL;
    size_t head = HDR + p->params.meta_len;
    uLong bound = deflateBound(z, (uLong)len);
    char *out = malloc(head + bound);
    if (!out)
        return NULL;
    out[0] = (char)p->params.tag;
    out[1] = (char)(len >> 24);
    out[2] = (char)(len >> 16);
    out[3] = (char)(len >> 8);
    out[4] = (char)len;
    for (size_t i = 0; i < p->params.meta_len; i++)
        out[HDR + i] = x ? (char)x->meta[i] : 0;
    z->next_in = (Bytef *)(uintptr_t)text;
    z->avail_in = (uInt)len;
    z->next_out = (Bytef *)out + head;
    z->avail_out = (uInt)bound;
    if (deflate(z, Z_FINISH) != Z_STREAM_END) {
        OPENSSL_cleanse(out, head + bound);
        free(out);
        return NULL;
    }
    size_t packed = head + (bound - z->avail_out);
    if (p->params.exact_size) {
        out = shrink(out, head + bound, packed);
        if (!out)
            return NULL;
    }
    *out_len = packed;
    return out;
}

char *
vpd_deflate_unpack(vpd_deflate_packer *p, const char *stored, size_t len,
                   vpd_deflate_extra *x, size_t *out_len)
{
    size_t head = HDR + p->params.meta_len;
    if (len < head || (unsigned char)stored[0] != p->params.tag)
        return NULL;
    const unsigned char *u = (const unsigned char *)stored;
    size_t n =
        (size_t)u[1] << 24 | (size_t)u[2] << 16 | (size_t)u[3] << 8 | u[4];
    /* The length is read before anything is checked, so damaged bytes
     * could ask for up to 4 GiB per lookup (found by fuzzing).  Deflate
     * emits at least 2 bits per 258 bytes of output, so no genuine stream
     * of k bytes inflates to more than 1032 * k. */
    if (n / 1032 > len - head)
        return NULL;
    size_t dict_len = 0;
    const char *dict = dictionary(p, x, &dict_len);
    char *text = dict ? malloc(n + 1) : NULL;
    if (!text) {
        forget_words(p, x);
        return NULL;
    }
    z_stream *z = &p->inf;
    int rc =
        inflateReset(z) == Z_OK && inflateSetDictionary(z, (const Bytef *)dict,
                                                        (uInt)dict_len) == Z_OK
            ? Z_OK
            : Z_DATA_ERROR;
    forget_words(p, x);
    if (rc == Z_OK) {
        z->next_in = (Bytef *)(uintptr_t)(stored + head);
        z->avail_in = (uInt)(len - head);
        z->next_out = (Bytef *)text;
        z->avail_out = (uInt)n;
        rc = inflate(z, Z_FINISH);
    }
    if (rc != Z_STREAM_END || z->avail_out != 0) {
        OPENSSL_cleanse(text, n);
        free(text);
        return NULL;
    }
    text[n] = '\0';
    *out_len = n;
    if (x)
        memcpy(x->meta, u + HDR, p->params.meta_len);
    return text;
}

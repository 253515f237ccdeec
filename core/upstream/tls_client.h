/* Client-side TLS towards Vault: one vpd_up_tls per identity (the vault
 * block's CA, client certificate and verification settings, or a cert-auth
 * login's own certificate), holding an OpenSSL context and the last
 * session for resumption.  Connections get their TLS state from it.
 *
 * Ownership: reference-counted.  vpd_up_tls_new returns one reference;
 * every pool and connection that uses the identity holds another, so an
 * identity replaced on SIGHUP lives until its last connection closes. */
#ifndef VPD_UP_TLS_CLIENT_H
#define VPD_UP_TLS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "http/tls.h"

typedef struct vpd_up_tls vpd_up_tls;

typedef struct {
    const char *ca_cert; /* PEM bundle; NULL: see ca_path / system roots */
    const char *ca_path; /* directory of hashed certificates */
    const char *client_cert;
    const char *client_key;
    bool skip_verify;
} vpd_up_tls_opts;

/* Reads the files (blocking: at start-up, on SIGHUP, or for a cert-auth
 * login).  TLS 1.2 is the minimum, as in Vault's client.  Returns NULL
 * with a reason in err. */
vpd_up_tls *vpd_up_tls_new(const vpd_up_tls_opts *o, char *err, size_t err_len);
vpd_up_tls *vpd_up_tls_ref(vpd_up_tls *t);
void vpd_up_tls_unref(vpd_up_tls *t);

/* A client session for a connection to `name` (SNI unless an IP literal;
 * the certificate must match it unless skip_verify), resuming the last
 * session made with this identity for the same name when there is one.
 * NULL when out of memory. */
vpd_tls_conn *vpd_up_tls_conn_new(vpd_up_tls *t, const char *name);

/* After a failed handshake: whether the peer's certificate was refused
 * (final: Vault's client does not retry it), with a reason in err. */
bool vpd_up_tls_verify_failed(vpd_tls_conn *c, char *err, size_t err_len);

#endif

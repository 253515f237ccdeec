# vaproxyd's configuration (vaproxyd.hcl(5)).  This default only starts the
# API proxy: it forwards requests on 127.0.0.1:8100 to a Vault server on
# this machine, with the token each client sends.  For auto-auth, a lease
# cache or a unix socket, start from the examples in
# /usr/share/doc/vaproxyd/examples/ and check the result with
#
#     vaproxyd --check-config -config /etc/vaproxy/proxy.hcl
#
# before `systemctl reload vaproxyd` (a bad file is refused and the running
# configuration kept).  The service runs as the user "vaproxy" and may only
# write below /run/vaproxy, /var/lib/vaproxy and /var/log/vaproxy.

vault {
  address = "http://127.0.0.1:8200"
}

listener "tcp" {
  address     = "127.0.0.1:8100"
  tls_disable = true
}

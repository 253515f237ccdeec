# TLS certificate login, mutual TLS to Vault, and a TLS listener that only
# clients with a certificate from our own CA may use (for applications on
# other hosts of a trusted network).
#
# Check it:   vaproxyd --check-config -config cert-auth.hcl
# Reference:  vaproxyd.hcl(5)
#
# Certificates and keys must be readable by the user vaproxy (e.g. mode
# 0640, group vaproxy).  They are reloaded on SIGHUP (systemctl reload
# vaproxyd), so a renewed certificate needs no restart.

vault {
  address         = "https://vault.example.com:8200"
  ca_cert         = "/etc/vaproxy/vault-ca.pem"
  tls_server_name = "vault.example.com"    # when the address is an IP
  # The identity presented on every connection to Vault, logins included.
  client_cert     = "/etc/vaproxy/client.pem"
  client_key      = "/etc/vaproxy/client-key.pem"
}

auto_auth {
  method "cert" {
    mount_path = "auth/cert"
    config = {
      # The certificate role to log in as; without it Vault picks the
      # first role the certificate matches.
      name = "web"
      # A login-only identity may be given instead of the vault block's:
      # client_cert = "/etc/vaproxy/login.pem"
      # client_key  = "/etc/vaproxy/login-key.pem"
    }
  }

  sink "file" {
    config = {
      path = "/run/vaproxy/token"
      mode = 0640
    }
  }
}

api_proxy {
  use_auto_auth_token = true
}

listener "tcp" {
  address       = "0.0.0.0:8443"
  tls_cert_file = "/etc/vaproxy/proxy.pem"      # certificate chain, PEM
  tls_key_file  = "/etc/vaproxy/proxy-key.pem"
  tls_min_version = "tls12"
  # Only clients with a certificate signed by this CA get in.
  tls_require_and_verify_client_cert = true
  tls_client_ca_file = "/etc/vaproxy/clients-ca.pem"

  # Bound what one client can make us hold.
  max_connections  = 1024
  max_request_size = 1048576                    # 1 MiB bodies
}

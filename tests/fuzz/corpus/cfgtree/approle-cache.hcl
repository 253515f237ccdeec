# AppRole login, a token sink and the lease cache: applications on this host
# send requests to http://127.0.0.1:8100 without a token and get the proxy's;
# leased secrets and tokens they create are cached, renewed and shared.
#
# Check it:   vaproxyd --check-config -config approle-cache.hcl
# Reference:  vaproxyd.hcl(5).  approle-cache.json is the same configuration
# in JSON (which has no comments; modes are written "0640" there, read as
# octal by vaproxyd, where Vault would need the decimal 416).
#
# Paths fit the packaged service (vaproxyd.service), which may write only
# below /run/vaproxy, /var/lib/vaproxy and /var/log/vaproxy.

vault {
  address = "https://vault.example.com:8200"
  ca_cert = "/etc/vaproxy/ca.pem"          # omit to use the system's CAs
  retry {
    num_retries = 5                        # proxied requests; 0 = 12, -1 = none
  }
}

auto_auth {
  method "approle" {
    mount_path  = "auth/approle"           # the default for "approle"
    min_backoff = "1s"                     # after a failed login, wait 1s,
    max_backoff = "2m"                     # doubling up to 2m
    config = {
      # The role id is re-read at every login.
      role_id_file_path = "/etc/vaproxy/role-id"
      # The secret id is deleted once read (the default), so it must sit in
      # a directory the daemon may write: the service's state directory.
      # Deliver a new one there (e.g. from your orchestration) when the
      # token can no longer be renewed.
      secret_id_file_path = "/var/lib/vaproxy/secret-id"
    }
  }

  # Applications that want the token itself read it from this file.
  # Mode 0640: the vaproxy group may read it.
  sink "file" {
    config = {
      path = "/run/vaproxy/token"
      mode = 0640
    }
  }
}

api_proxy {
  # Requests without X-Vault-Token get the auto-auth token; requests with
  # one keep it ("force" would replace it).
  use_auto_auth_token = true
}

# The lease cache: present (even empty) turns it on.
cache {
  max_entries = 10000                      # then answers are relayed uncached
  max_bytes   = 67108864                   # 64 MiB

  # Keep the cache across restarts, encrypted with a key only the daemon
  # can read (a key readable by its group is used with a warning):
  #   (umask 077; openssl rand -hex 32 > /etc/vaproxy/cache.key)
  #   chown vaproxy: /etc/vaproxy/cache.key
  persist "file" {
    path              = "/var/lib/vaproxy"   # the file is vaproxy-cache.db
    key_file          = "/etc/vaproxy/cache.key"
    keep_after_import = true               # keep persisting after a restore
    exit_on_err       = false              # a broken file: start empty
  }
}

listener "tcp" {
  address     = "127.0.0.1:8100"
  tls_disable = true                       # loopback only
  # Browsers cannot add this header on a cross-site request: refuse
  # requests without "X-Vault-Request: true" (the vault CLI sends it).
  require_request_header = true
}

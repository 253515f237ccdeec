# Every key the proxy understands, as in vaproxyd.hcl(5).  Paths
# are only strings here: loading a configuration reads no other file.
pid_file = "/run/bao-proxy.pid"
exit_after_auth = false
disable_idle_connections = ["proxying"]

vault {
  address = "https://bao.example:8200"
  ca_cert = "/etc/bao/ca.pem"
  retry { num_retries = 5 }
}

auto_auth {
  method "approle" {
    mount_path  = "auth/approle"
    namespace   = "team-a"
    min_backoff = "2s"
    max_backoff = "1m"
    config = {
      role_id_file_path   = "/etc/bao/role-id"
      secret_id_file_path = "/etc/bao/secret-id"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" {
    config = { path = "/run/bao/token", mode = 0640 }
  }
  sink "file" {
    wrap_ttl = "5m"
    dh_type  = "curve25519"
    dh_path  = "/run/bao/client-pub.json"
    derive_key = true
    aad_env_var = "BAO_SINK_AAD"
    config = { path = "/run/bao/token.enc" }
  }
}

api_proxy { use_auto_auth_token = "force" }

cache {
  persist "kubernetes" {
    path = "/bao/cache"
    keep_after_import = true
    exit_on_err = true
  }
}

listener "unix" {
  address     = "/run/bao/proxy.sock"
  tls_disable = true
  proxy_api { enable_quit = true }
}
listener "tcp" {
  address = "127.0.0.1:8100"
  tls_disable = true
  require_request_header = true
}
listener "tcp" {
  address = "127.0.0.1:9102"
  tls_disable = true
  role = "metrics_only"
}
telemetry {
  prometheus_retention_time = "30s"
  disable_hostname          = true
}

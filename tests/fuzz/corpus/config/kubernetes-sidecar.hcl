# vaproxyd as a sidecar container in a Kubernetes pod: it logs in with the
# pod's service account, writes the token to a volume the application
# container shares, and proxies the Vault API to the application on the
# pod's loopback.  Prometheus scrapes metrics on a separate port.
#
#   containers:
#   - name: vaproxyd
#     args: ["-config=/etc/vaproxy/proxy.hcl"]
#     env: [{name: VAULT_ADDR, value: "https://vault.vault.svc:8200"}]
#     volumeMounts:
#     - {name: vault-token, mountPath: /vault/secrets}   # emptyDir, medium: Memory
#     - {name: vaproxy-config, mountPath: /etc/vaproxy}  # this file, from a ConfigMap
#
# Check it:   vaproxyd --check-config -config kubernetes-sidecar.hcl
# Reference:  vaproxyd.hcl(5)

# Logs go to standard error, one JSON object per line, for the cluster's
# log collector.
log_format = "json"

vault {
  # VAULT_ADDR (or BAO_ADDR) in the container's environment overrides this.
  address = "https://vault.vault.svc:8200"
  # The cluster CA bundle that signed Vault's certificate, from a ConfigMap.
  ca_cert = "/etc/vaproxy/vault-ca.pem"
}

auto_auth {
  method "kubernetes" {
    mount_path = "auth/kubernetes"
    config = {
      role = "my-app"
      # The projected service-account token, re-read at every login, so
      # the kubelet's rotation is picked up.
      token_path = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    }
  }

  sink "file" {
    config = {
      path = "/vault/secrets/token"
      # Readable by the group: give both containers the pod's
      # securityContext.fsGroup, and the application can read it.
      mode = 0640
    }
  }
}

api_proxy {
  use_auto_auth_token = true
}

# Cache leases and tokens in memory for this pod.
cache {}

# The application talks to http://127.0.0.1:8100 (set its VAULT_ADDR so).
listener "tcp" {
  address     = "127.0.0.1:8100"
  tls_disable = true
}

# Only /proxy/v1/metrics on the pod's address, for Prometheus:
#   prometheus.io/scrape: "true", prometheus.io/port: "9102",
#   prometheus.io/path: "/proxy/v1/metrics?format=prometheus"
listener "tcp" {
  address     = "0.0.0.0:9102"
  tls_disable = true
  role        = "metrics_only"
}

telemetry {
  prometheus_retention_time = "1m"
  disable_hostname          = true
}

# A unix socket for local applications: no TCP port at all.  Only members
# of the socket's group can connect; every request is sent with the proxy's
# token ("force"), so applications never hold a Vault token.
#
#   curl --unix-socket /run/vaproxy/proxy.sock http://localhost/v1/secret/data/app
#   VAULT_ADDR=unix:///run/vaproxy/proxy.sock vault kv get secret/app
#
# Check it:   vaproxyd --check-config -config unix-socket.hcl
# Reference:  vaproxyd.hcl(5)

# Besides the journal, keep a log file; rotated daily, a week kept.
log_file             = "/var/log/vaproxy/"   # a directory: .../proxy.log
log_rotate_duration  = "24h"
log_rotate_max_files = 7

vault {
  address = "https://vault.example.com:8200"
}

auto_auth {
  # A token someone else renews or replaces in this file (e.g. a
  # configuration-management run); it is looked up at every login.
  method "token_file" {
    config = {
      token_file_path = "/etc/vaproxy/token"
    }
  }
}

api_proxy {
  use_auto_auth_token = "force"
}

cache {}

listener "unix" {
  # /run/vaproxy is the service's runtime directory (mode 0750, group
  # vaproxy).  Add the applications' users to the group vaproxy, or name
  # another group here and make /run/vaproxy reachable for it.
  address      = "/run/vaproxy/proxy.sock"
  tls_disable  = true
  socket_mode  = "0660"        # applied on its own, unlike OpenBao
  socket_group = "vaproxy"

  # Let the local admin stop the daemon: curl -X POST .../proxy/v1/quit
  proxy_api {
    enable_quit = true
  }
}

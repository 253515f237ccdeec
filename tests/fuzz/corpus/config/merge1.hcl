pid_file = "/run/one.pid"
log_level = "debug"
exit_after_auth = true
disable_keep_alives = ["auto-auth"]

vault {
  address = "https://one.example:8200"
  tls_skip_verify = true
}

api_proxy {
  use_auto_auth_token = true
}

auto_auth {
  method "token_file" {
    config = { token_file_path = "/tmp/one" }
  }
  sink "file" {
    config = { path = "/tmp/one-sink" }
  }
}

listener "tcp" {
  address = "127.0.0.1:8101"
  tls_disable = true
}

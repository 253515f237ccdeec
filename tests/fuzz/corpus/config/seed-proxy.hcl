api_proxy {
  use_auto_auth_token = "force"
  enforce_consistency = "always"
}
listener "tcp" {
  address = "127.0.0.1:8100"
  tls_disable = true
}

# Vault Proxy refuses use_auto_auth_token without an auto_auth block
# (vaproxyd.hcl(5)), so the seed listener file is paired with this one.
auto_auth {
  method "token_file" {
    config = { token_file_path = "/tmp/t" }
  }
}

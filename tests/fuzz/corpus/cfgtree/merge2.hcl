# Later file: whole blocks replace, listeners append, empty scalars keep
# the earlier value, booleans are OR-ed.
pid_file = ""
log_format = "json"
exit_after_auth = false
disable_keep_alives = ["proxying"]

vault {
  address = "https://two.example:8200"
}

auto_auth {
  method {
    type = "AppRole"
    config = { role_id_file_path = "/tmp/role" }
  }
  sinks {
    sink {
      type = "file"
      config = { path = "/tmp/two-a" }
    }
    sink "file" {
      config = { path = "/tmp/two-b" }
    }
  }
}

listener "unix" {
  address = "/tmp/two.sock"
  tls_disable = "true"
}

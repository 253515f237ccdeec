# contrib/bench/servers.sh: the pass-through set-up shared by run.sh and
# profile.sh: one nginx "Vault" upstream (plain and TLS) and three proxies in
# front of it (nginx proxy_pass, haproxy, vaproxyd), each with a plain and a
# TLS upstream.  Source it after lib.sh, once bench_tmp has made $T; it
# defines functions and globals and starts nothing by itself.
#
# Ports (all on 127.0.0.1), picked by pick_ports:
#   UP_PORT / UPT_PORT   upstream, plain / TLS
#   PX_PORT / PXT_PORT   nginx proxy to the plain / TLS upstream (one process)
#   HA_PORT / HAT_PORT   haproxy to the plain / TLS upstream (one process)
#   VP_PORT / VPT_PORT   vaproxyd to the plain / TLS upstream (two processes)
#   CD_PORT / CDT_PORT   the candidate vaproxyd (CANDIDATE=binary), likewise
# shellcheck shell=bash disable=SC2034  # globals set here are used by the callers

URL_PATH=/v1/secret/data/foo
TOKEN_HDR='X-Vault-Token: t'
# The name the upstream's certificate is issued for; every proxy checks it.
TLS_NAME=vault.bench

# A KV v2 read response, shaped like Vault's (no single quotes, no '$').
BODY='{"request_id":"6f1c2a9e-3b7d-4c55-9a0e-2d8e5f4b1c77","lease_id":"","renewable":false,"lease_duration":0,"data":{"data":{"password":"s3cr3t","username":"app"},"metadata":{"created_time":"2024-01-01T00:00:00.000000000Z","custom_metadata":null,"deletion_time":"","destroyed":false,"version":3}},"wrap_info":null,"warnings":null,"auth":null,"mount_type":"kv"}'

pick_ports() {
    UP_PORT=$(free_port)
    UPT_PORT=$(free_port)
    PX_PORT=$(free_port)
    PXT_PORT=$(free_port)
    HA_PORT=$(free_port)
    HAT_PORT=$(free_port)
    VP_PORT=$(free_port)
    VPT_PORT=$(free_port)
    CD_PORT=$(free_port)
    CDT_PORT=$(free_port)
    RL_PORT=$(free_port)
}

# make_tls DIR: a throw-away CA (ca.pem) and a server certificate signed by
# it for TLS_NAME and 127.0.0.1 (server.pem, server.key).
make_tls() {
    local d=$1
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=vaproxy bench CA" \
        -keyout "$d/ca.key" -out "$d/ca.pem" >"$T/logs/openssl.log" 2>&1 ||
        die "openssl: CA generation failed (see $T/logs/openssl.log)"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$TLS_NAME" \
        -keyout "$d/server.key" -out "$d/server.csr" >>"$T/logs/openssl.log" 2>&1 ||
        die "openssl: server key generation failed"
    printf 'subjectAltName=DNS:%s,IP:127.0.0.1\n' "$TLS_NAME" >"$d/san.ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -CAcreateserial -days 2 -extfile "$d/san.ext" -out "$d/server.pem" \
        >>"$T/logs/openssl.log" 2>&1 || die "openssl: signing the server certificate failed"
    chmod 0644 "$d"/*.pem "$d"/*.key
}

# write_configs: every server's config under $T (up/, px/, ha/, vp/, vpt/,
# cd/, cdt/, tls/).  NGINX_MASTER=off (profile.sh) runs each nginx as one process.
write_configs() {
    make_tls "$T/tls"
    {
        nginx_common "$T/up"
        cat <<EOF
http {
    access_log off;
    default_type application/json;
    keepalive_requests 1000000;
$(nginx_temp_paths "$T/up")
    server {
        listen 127.0.0.1:$UP_PORT;
        listen 127.0.0.1:$UPT_PORT ssl;
        ssl_certificate $T/tls/server.pem;
        ssl_certificate_key $T/tls/server.key;
        location /v1/ { return 200 '$BODY'; }
    }
}
EOF
    } >"$T/up/nginx.conf"

    # Both nginx proxies keep a pool of upstream connections; the TLS one
    # verifies the upstream and reuses TLS sessions.
    {
        nginx_common "$T/px"
        cat <<EOF
http {
    access_log off;
    keepalive_requests 1000000;
$(nginx_temp_paths "$T/px")
    upstream vault_up {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    upstream vault_up_tls {
        server 127.0.0.1:$UPT_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$PX_PORT;
        location / {
            proxy_pass http://vault_up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
    server {
        listen 127.0.0.1:$PXT_PORT;
        location / {
            proxy_pass https://vault_up_tls;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $T/tls/ca.pem;
            proxy_ssl_name $TLS_NAME;
            proxy_ssl_server_name on;
            proxy_ssl_session_reuse on;
        }
    }
}
EOF
    } >"$T/px/nginx.conf"

    # haproxy: one process, one thread (as nginx has one worker), keep-alive
    # to the upstream with the connections shared between clients.
    cat >"$T/ha/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4096
    ssl-server-verify required

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend fe_plain
    bind 127.0.0.1:$HA_PORT
    default_backend be_plain

frontend fe_tls
    bind 127.0.0.1:$HAT_PORT
    default_backend be_tls

backend be_plain
    server up 127.0.0.1:$UP_PORT

backend be_tls
    server up 127.0.0.1:$UPT_PORT ssl verify required ca-file $T/tls/ca.pem sni str($TLS_NAME) verifyhost $TLS_NAME
EOF

    # vaproxyd: pure pass-through with the client's token (no cache, no
    # auto-auth); retries off so that errors show instead of being hidden.
    write_vp_conf "$T/vp/config.hcl" "http://127.0.0.1:$UP_PORT" "" "$VP_PORT"
    write_vp_conf "$T/vpt/config.hcl" "https://127.0.0.1:$UPT_PORT" "$T/tls/ca.pem" "$VPT_PORT"
    mkdir -p "$T/cd" "$T/cdt"
    write_vp_conf "$T/cd/config.hcl" "http://127.0.0.1:$UP_PORT" "" "$CD_PORT"
    write_vp_conf "$T/cdt/config.hcl" "https://127.0.0.1:$UPT_PORT" "$T/tls/ca.pem" "$CDT_PORT"
}

write_vp_conf() { # file address ca_cert listen_port
    {
        echo 'vault {'
        echo "  address = \"$2\""
        if [[ -n $3 ]]; then
            echo "  ca_cert = \"$3\""
            echo "  tls_server_name = \"$TLS_NAME\""
        fi
        cat <<EOF
  retry {
    num_retries = -1
  }
}

listener "tcp" {
  address     = "127.0.0.1:$4"
  tls_disable = true
}
EOF
    } >"$1"
}

check_configs() {
    nginx_check "$T/up" upstream
    nginx_check "$T/px" proxy
    haproxy -c -q -f "$T/ha/haproxy.cfg" >"$T/logs/ha-check.log" 2>&1 ||
        { cat "$T/logs/ha-check.log" >&2; die "haproxy config rejected ($T/ha/haproxy.cfg)"; }
}

# start_haproxy [PREFIX...]: haproxy in the foreground (-db), pinned; sets HA_PID.
start_haproxy() {
    "${SRV_PIN[@]}" "$@" haproxy -db -f "$T/ha/haproxy.cfg" >"$T/logs/ha.log" 2>&1 &
    HA_PID=$!
    PIDS+=("$HA_PID")
}

# start_relay: relay.c (the least work a proxy hop can cost), built with the
# system compiler and pinned like the proxies, in front of the plain
# upstream; sets RL_PID.
start_relay() {
    cc -O2 -o "$T/relay" "$(dirname "${BASH_SOURCE[0]}")/relay.c" >"$T/logs/relay-build.log" 2>&1 ||
        die "cannot build relay.c (see $T/logs/relay-build.log)"
    "${SRV_PIN[@]}" "$T/relay" "$RL_PORT" "$UP_PORT" >"$T/logs/relay.log" 2>&1 &
    RL_PID=$!
    PIDS+=("$RL_PID")
}

# start_vaproxyd DIR [PREFIX...]: vaproxyd on DIR/config.hcl, pinned; sets
# VPD_PID.  The dirs cd/ and cdt/ run the candidate binary (CANDIDATE).
start_vaproxyd() {
    local d=$1 bin=$VPD_BIN plugins=$VPD_PLUGINS
    shift
    case $(basename "$d") in
        cd | cdt)
            bin=$CANDIDATE
            plugins=$CANDIDATE_PLUGIN_DIR
            ;;
    esac
    "${SRV_PIN[@]}" "$@" "$bin" --config "$d/config.hcl" --plugin-dir "$plugins" \
        --log-level "${LOG_LEVEL:-warn}" >"$T/logs/$(basename "$d").log" 2>&1 &
    VPD_PID=$!
    PIDS+=("$VPD_PID")
}

# check_same_answer NAME PORT: one request; warns unless 200 with the upstream's body.
check_same_answer() {
    local name=$1 port=$2 code
    code=$(curl -s -o "$T/body-$name" -w '%{http_code}' --max-time 5 -H "$TOKEN_HDR" \
        "http://127.0.0.1:$port$URL_PATH" || true)
    if [[ $code != 200 ]]; then
        log "WARNING: $name answered $code (not 200) to GET $URL_PATH"
    elif [[ $(cat "$T/body-$name") != "$BODY" ]]; then
        log "WARNING: $name returned a body different from the upstream's"
    fi
}

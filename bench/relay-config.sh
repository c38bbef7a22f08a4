# Sourced by the bench scripts that run a real cloud and edge on loopback.
# port: a free TCP port. relay_config FILE MAX_CONNECTIONS [EXTRA_EDGE_LINES]: a config with
# fresh ports for both nodes (exported as rtmp, flv, udp, quic), warn-level logs and the edge's
# connection limits raised, since every player comes from loopback.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
relay_config() {
    rtmp=$(port) flv=$(port) udp=$(port) quic=$(port)
    cat >"$1" <<YAML
cloud:
  rtmp_addr: "127.0.0.1:$rtmp"
  api_addr: "127.0.0.1:$(port)"
  quic_addr: "127.0.0.1:$quic"
  client_addr_list: ["127.0.0.1:$udp"]
  log_level: warn
edge:
  udp_addr: "127.0.0.1:$udp"
  flv_addr: "127.0.0.1:$flv"
  cloud_quic_addr: "127.0.0.1:$quic"
  log_level: warn
  http_max_connections: $2
  http_max_connections_per_ip: $2
${3:-}
YAML
}

//! Listen and destination addresses as operators write them: ":port" or "host:port".

use crate::NodeError;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};

/// Parses `":port"` (all interfaces) or `"host:port"`; `key` names the config key in errors.
pub fn parse_addr(key: &str, value: &str) -> Result<SocketAddr, NodeError> {
    let bad =
        |reason: &str| NodeError::bad_value(key, format!("{value:?} is not an address: {reason}"));
    if let Some(port) = value.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| bad("the port is not a number from 0 to 65535"))?;
        return Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)));
    }
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if !value.contains(':') {
        return Err(bad("expected \":port\" or \"host:port\""));
    }
    let mut resolved = value
        .to_socket_addrs()
        .map_err(|error| bad(&format!("cannot resolve it ({error})")))?;
    resolved
        .next()
        .ok_or_else(|| bad("the name resolves to nothing"))
}

/// Like [`parse_addr`], with `""` meaning "none".
pub fn parse_optional_addr(key: &str, value: &str) -> Result<Option<SocketAddr>, NodeError> {
    if value.is_empty() {
        return Ok(None);
    }
    parse_addr(key, value).map(Some)
}

/// Parses the interface address for multicast: empty means "let the kernel choose".
pub fn parse_multicast_if(key: &str, value: &str) -> Result<Option<Ipv4Addr>, NodeError> {
    if value.is_empty() {
        return Ok(None);
    }
    value.parse().map(Some).map_err(|_| {
        NodeError::bad_value(key, format!("{value:?} is not an IPv4 interface address"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            parse_addr("k", ":1935").unwrap(),
            "0.0.0.0:1935".parse().unwrap()
        );
        assert_eq!(
            parse_addr("k", "127.0.0.1:7001").unwrap(),
            "127.0.0.1:7001".parse().unwrap()
        );
        assert_eq!(
            parse_addr("k", "[::1]:7001").unwrap(),
            "[::1]:7001".parse().unwrap()
        );
        assert!(parse_addr("k", "localhost:80").unwrap().ip().is_loopback());
        let error = parse_addr("cloud.rtmp_addr", ":99999")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("cloud.rtmp_addr: \":99999\""), "{error}");
        assert!(parse_addr("k", "1935").is_err());
        assert_eq!(parse_multicast_if("k", "").unwrap(), None);
        assert!(parse_multicast_if("k", "eth0").is_err());
    }
}

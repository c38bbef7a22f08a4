//! Secrets in the config file: the placeholders the shipped `config.yaml` holds, the fresh ones
//! a missing file is written with, and the rule that a placeholder never listens beyond
//! loopback (anyone who has read this repository knows it).

use crate::NodeError;
use rand::distr::{Alphanumeric, SampleString};
use std::net::SocketAddr;

/// The shipped edge token, in `cloud.edge_tokens` and `edge.edge_token`.
pub const PLACEHOLDER_EDGE_TOKEN: &str = "dev-token-change-me";
/// The shipped `cloud.server_keys` pair.
pub const PLACEHOLDER_ACCESS_KEY: &str = "dev-ak";
/// The shipped `cloud.server_keys` secret key, paired with [`PLACEHOLDER_ACCESS_KEY`].
pub const PLACEHOLDER_SECRET_KEY: &str = "dev-secret-key-change-me";
/// The shipped `cloud.jwt_key`.
pub const PLACEHOLDER_JWT_KEY: &str = "dev-jwt-key-change-me";
/// The shipped `api_token` of both sections.
pub const PLACEHOLDER_API_TOKEN: &str = "dev-api-token-change-me";

/// Letters and digits in a generated secret: about 190 bits, beyond any offline search, and
/// nothing that needs quoting in YAML, a URL or a shell.
const SECRET_LEN: usize = 32;

fn fresh_secret() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), SECRET_LEN)
}

/// The secrets of a config file written because none was there. One edge token and one API
/// token serve both sections, so a cloud and an edge started from the file work together.
#[derive(Debug, Clone)]
pub struct FreshSecrets {
    pub edge_token: String,
    pub api_token: String,
    pub access_key: String,
    pub secret_key: String,
    pub jwt_key: String,
    pub publish_key: String,
}

impl FreshSecrets {
    pub fn generate() -> FreshSecrets {
        FreshSecrets {
            edge_token: fresh_secret(),
            api_token: fresh_secret(),
            access_key: format!("ak-{}", &fresh_secret()[..12]),
            secret_key: fresh_secret(),
            jwt_key: fresh_secret(),
            publish_key: fresh_secret(),
        }
    }

    /// Each line of the shipped file that changes, by section, as it is shipped and as it is
    /// written. Listen addresses widen to every interface (the contract's defaults): with fresh
    /// secrets that is safe, and the shipped file binds loopback only because of its
    /// placeholders.
    fn edits(&self) -> Vec<(&'static str, String, String)> {
        let quoted = |key: &str, value: &str| format!("{key}: \"{value}\"");
        let mut edits = Vec::new();
        for (section, key, port) in [
            ("cloud", "rtmp_addr", 1935),
            ("cloud", "api_addr", 8090),
            ("cloud", "quic_addr", 4242),
            ("edge", "flv_addr", 7001),
        ] {
            edits.push((
                section,
                quoted(key, &format!("127.0.0.1:{port}")),
                quoted(key, &format!(":{port}")),
            ));
        }
        for (section, key, shipped, fresh) in [
            (
                "cloud",
                "- access_key",
                PLACEHOLDER_ACCESS_KEY,
                &self.access_key,
            ),
            (
                "cloud",
                "secret_key",
                PLACEHOLDER_SECRET_KEY,
                &self.secret_key,
            ),
            ("cloud", "jwt_key", PLACEHOLDER_JWT_KEY, &self.jwt_key),
            ("cloud", "publish_key", "", &self.publish_key),
            ("cloud", "api_token", PLACEHOLDER_API_TOKEN, &self.api_token),
            (
                "edge",
                "edge_token",
                PLACEHOLDER_EDGE_TOKEN,
                &self.edge_token,
            ),
            ("edge", "api_token", PLACEHOLDER_API_TOKEN, &self.api_token),
        ] {
            edits.push((section, quoted(key, shipped), quoted(key, fresh)));
        }
        edits.push((
            "cloud",
            format!("- \"{PLACEHOLDER_EDGE_TOKEN}\""),
            format!("- \"{}\"", self.edge_token),
        ));
        edits
    }

    /// `shipped` (the shipped `config.yaml`) with these secrets and open listen addresses,
    /// comments and layout kept. Every edit must match exactly one line of its section, so the
    /// shipped file and this list cannot drift apart unnoticed.
    pub fn render(&self, shipped: &str) -> Result<String, NodeError> {
        let edits = self.edits();
        let mut hits = vec![0usize; edits.len()];
        let mut section = "";
        let mut out = String::with_capacity(shipped.len() + 256);
        for line in shipped.lines() {
            if let Some(name) = line
                .strip_suffix(':')
                .filter(|_| !line.starts_with([' ', '#']))
            {
                section = name;
            }
            let body = line.trim_start();
            let indent = &line[..line.len() - body.len()];
            let edit = edits
                .iter()
                .position(|(s, before, _)| *s == section && body == before);
            match edit {
                Some(index) => {
                    hits[index] += 1;
                    out.push_str(indent);
                    out.push_str(&edits[index].2);
                }
                None => out.push_str(line),
            }
            out.push('\n');
        }
        match edits.iter().zip(&hits).find(|(_, hits)| **hits != 1) {
            Some(((section, before, _), hits)) => Err(NodeError::bad_value(
                section,
                format!("the shipped config has {hits} lines `{before}`, expected one"),
            )),
            None => Ok(out),
        }
    }

    /// What is printed on stderr, once, when the file is written: the only time these secrets
    /// are shown outside the file.
    pub fn announcement(&self, path: &std::path::Path) -> String {
        format!(
            "liverelay: {path} was missing; wrote it with fresh secrets (shown this once; they \
             are in the file, mode 0600):\n  \
             api_token (cloud and edge):                    {api}\n  \
             edge token (cloud.edge_tokens, edge.edge_token): {edge}\n  \
             cloud.server_keys:  access_key {ak}  secret_key {sk}\n  \
             cloud.jwt_key:      {jwt}\n  \
             cloud.publish_key:  {publish}\n",
            path = path.display(),
            api = self.api_token,
            edge = self.edge_token,
            ak = self.access_key,
            sk = self.secret_key,
            jwt = self.jwt_key,
            publish = self.publish_key,
        )
    }
}

/// Refuses the first placeholder among `secrets` (`(key, holds the placeholder)`, only secrets
/// the node would accept or send) when any of `listeners` (`(key, address)`) is beyond
/// loopback: on one machine placeholders are a convenience, anywhere else an open door.
pub fn refuse_placeholders(
    listeners: &[(&str, SocketAddr)],
    secrets: &[(&str, bool)],
) -> Result<(), NodeError> {
    let Some((listen_key, addr)) = listeners.iter().find(|(_, addr)| !addr.ip().is_loopback())
    else {
        return Ok(());
    };
    match secrets.iter().find(|(_, placeholder)| *placeholder) {
        Some((key, _)) => Err(NodeError::bad_value(
            key,
            format!(
                "holds the shipped placeholder secret while {listen_key} listens on {addr}, \
                 beyond loopback; set a secret of your own (a node started with a missing \
                 config file writes one with fresh secrets)"
            ),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_CONFIG;

    #[test]
    fn rendering_replaces_every_placeholder_and_opens_the_listeners() {
        let secrets = FreshSecrets::generate();
        let text = secrets.render(DEFAULT_CONFIG).unwrap();
        for placeholder in [
            PLACEHOLDER_EDGE_TOKEN,
            PLACEHOLDER_SECRET_KEY,
            PLACEHOLDER_JWT_KEY,
            PLACEHOLDER_API_TOKEN,
            "127.0.0.1:1935\"",
            "127.0.0.1:8090\"",
        ] {
            assert!(!text.contains(placeholder), "{placeholder} left in");
        }
        let document: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let (cloud, edge) = (&document["cloud"], &document["edge"]);
        assert_eq!(cloud["edge_tokens"][0], edge["edge_token"]);
        assert_eq!(cloud["api_token"], edge["api_token"]);
        assert_eq!(
            cloud["api_token"].as_str(),
            Some(secrets.api_token.as_str())
        );
        assert_eq!(
            cloud["server_keys"][0]["secret_key"].as_str(),
            Some(&*secrets.secret_key)
        );
        assert_eq!(cloud["publish_key"].as_str(), Some(&*secrets.publish_key));
        assert_eq!(cloud["rtmp_addr"].as_str(), Some(":1935"));
        assert_eq!(edge["flv_addr"].as_str(), Some(":7001"));
        assert_eq!(
            text.lines().count(),
            DEFAULT_CONFIG.lines().count(),
            "only values change"
        );
        let other = FreshSecrets::generate();
        assert_ne!(other.api_token, secrets.api_token);
        assert_ne!(other.jwt_key, secrets.jwt_key);
    }

    #[test]
    fn a_missing_line_is_an_error() {
        let shipped = DEFAULT_CONFIG.replace("jwt_key: \"dev-jwt", "jwt_key: \"other");
        let error = FreshSecrets::generate().render(&shipped).unwrap_err();
        assert!(error.to_string().contains("jwt_key"), "{error}");
    }

    #[test]
    fn placeholders_are_refused_only_beyond_loopback() {
        let local: SocketAddr = "127.0.0.1:8090".parse().unwrap();
        let open: SocketAddr = "0.0.0.0:8090".parse().unwrap();
        let secrets = [("cloud.api_token", false), ("cloud.jwt_key", true)];
        assert!(refuse_placeholders(&[("cloud.api_addr", local)], &secrets).is_ok());
        let error = refuse_placeholders(
            &[("cloud.rtmp_addr", local), ("cloud.api_addr", open)],
            &secrets,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("cloud.jwt_key: ")
                && error.contains("cloud.api_addr listens on 0.0.0.0:8090"),
            "{error}"
        );
        assert!(refuse_placeholders(&[("cloud.api_addr", open)], &secrets[..1]).is_ok());
    }
}

//! An independent reader of the Prometheus text format, to check `/metrics` of both nodes.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

/// GETs `/metrics` of the node at `addr` and parses it; panics on any failure.
pub fn scrape(addr: SocketAddr) -> Scrape {
    let response = crate::http::request(addr, "GET", "/metrics", Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("/metrics of {addr}: {e}"));
    assert_eq!(
        response.status,
        200,
        "/metrics of {addr}: {}",
        response.body_text()
    );
    Scrape::parse(&response.body_text()).unwrap_or_else(|e| panic!("/metrics of {addr}: {e}"))
}

/// One sample: metric name, labels in order, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// A parsed scrape.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// Parses `text`, checking that every sample's family was declared with `# TYPE` first and
    /// that each family's samples are together.
    pub fn parse(text: &str) -> Result<Scrape, String> {
        let mut declared: HashSet<String> = HashSet::new();
        let mut finished: HashSet<String> = HashSet::new();
        let mut current: Option<String> = None;
        let mut samples = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let at = |what: &str| format!("line {}: {what}: {line:?}", number + 1);
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let family = rest.split(' ').next().unwrap_or_default().to_owned();
                if !declared.insert(family.clone()) {
                    return Err(at("family declared twice"));
                }
                if let Some(previous) = current.replace(family) {
                    finished.insert(previous);
                }
                continue;
            }
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let sample = parse_sample(line).ok_or_else(|| at("not a sample"))?;
            let family = current
                .as_deref()
                .ok_or_else(|| at("sample before any TYPE"))?;
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| sample.name.strip_suffix(suffix))
                .filter(|base| *base == family)
                .unwrap_or(&sample.name);
            if base != family || finished.contains(base) {
                return Err(at("sample outside its family's block"));
            }
            samples.push(sample);
        }
        Ok(Scrape { samples })
    }

    /// The value of `name` with exactly `labels`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
            })
            .map(|s| s.value)
    }

    /// Every sample whose labels include `label` = `value`.
    pub fn with_label(&self, label: &str, value: &str) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.labels.iter().any(|(k, v)| k == label && v == value))
            .collect()
    }
}

fn parse_sample(line: &str) -> Option<Sample> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().ok()?,
    };
    let (name, labels) = match series.split_once('{') {
        None => (series, Vec::new()),
        Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}')?)?),
    };
    let valid_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':');
    valid_name.then(|| Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

fn parse_labels(mut text: &str) -> Option<Vec<(String, String)>> {
    let mut labels = Vec::new();
    while !text.is_empty() {
        let (key, rest) = text.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((key.to_owned(), value));
        text = rest[end + 1..]
            .strip_prefix(',')
            .unwrap_or(&rest[end + 1..]);
    }
    Some(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_grouping() {
        let scrape = Scrape::parse(
            "# TYPE a counter\na{s=\"x\\\"y\",k=\"v\"} 3\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n",
        )
        .unwrap();
        assert_eq!(scrape.get("a", &[("k", "v"), ("s", "x\"y")]), Some(3.0));
        assert_eq!(scrape.get("h_count", &[]), Some(1.0));
        assert!(Scrape::parse("a 1\n").is_err());
        assert!(Scrape::parse("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n").is_err());
    }
}

//! Prometheus text exposition (format 0.0.4), rendered at scrape time from the nodes' live
//! state. Series of a stream exist while the stream does, so gauges fall back when streams,
//! players or edges go away instead of keeping their last value.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::fmt::Write;

/// The `Content-Type` of a `/metrics` answer: Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

#[derive(Debug)]
struct Family {
    name: String,
    help: &'static str,
    kind: Kind,
    samples: String,
}

/// Collects samples family by family (the format wants each family's samples together, callers
/// may add them stream by stream) and renders them in the order families first appeared.
#[derive(Debug, Default)]
pub struct Exposition {
    families: Vec<Family>,
    index: HashMap<String, usize>,
}

/// Label pairs of one sample.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Self {
        Self::default()
    }

    fn family(&mut self, name: &str, help: &'static str, kind: Kind) -> &mut String {
        let index = match self.index.get(name) {
            Some(index) => *index,
            None => {
                self.families.push(Family {
                    name: name.to_owned(),
                    help,
                    kind,
                    samples: String::new(),
                });
                self.index.insert(name.to_owned(), self.families.len() - 1);
                self.families.len() - 1
            }
        };
        &mut self.families[index].samples
    }

    /// A counter; `name` should end in `_total`.
    pub fn counter(&mut self, name: &str, help: &'static str, labels: Labels, value: u64) {
        let samples = self.family(name, help, Kind::Counter);
        write_sample(samples, name, labels, None, &value.to_string());
    }

    /// A gauge sample with `labels`; non-finite values are written as the format spells them.
    pub fn gauge(&mut self, name: &str, help: &'static str, labels: Labels, value: f64) {
        let samples = self.family(name, help, Kind::Gauge);
        write_sample(samples, name, labels, None, &format_float(value));
    }

    /// A histogram from per-bucket counts: `counts[i]` fell at or under `bounds[i]`, and the one
    /// extra last count above every bound. Rendered cumulatively, as the format wants.
    pub fn histogram(
        &mut self,
        name: &str,
        help: &'static str,
        labels: Labels,
        bounds: &[f64],
        counts: &[u64],
        sum: f64,
    ) {
        let samples = self.family(name, help, Kind::Histogram);
        let mut cumulative = 0u64;
        let bucket_name = format!("{name}_bucket");
        for (i, count) in counts.iter().enumerate() {
            cumulative += count;
            let le = bounds
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |b| format_float(*b));
            write_sample(
                samples,
                &bucket_name,
                labels,
                Some(&le),
                &cumulative.to_string(),
            );
        }
        write_sample(
            samples,
            &format!("{name}_sum"),
            labels,
            None,
            &format_float(sum),
        );
        write_sample(
            samples,
            &format!("{name}_count"),
            labels,
            None,
            &cumulative.to_string(),
        );
    }

    /// The text exposition: per family its `# HELP` and `# TYPE` lines, then its samples, families
    /// in the order they were first added.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for family in &self.families {
            let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
            let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind.name());
            out.push_str(&family.samples);
        }
        out
    }
}

impl IntoResponse for Exposition {
    fn into_response(self) -> Response {
        let mut response = self.render().into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        response
    }
}

fn write_sample(out: &mut String, name: &str, labels: Labels, le: Option<&str>, value: &str) {
    out.push_str(name);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        let mut first = true;
        let pairs = labels.iter().copied().chain(le.map(|le| ("le", le)));
        for (key, value) in pairs {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(key);
            out.push_str("=\"");
            escape_label(out, value);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

/// Label values escape backslash, double quote and newline (the exposition format's rules).
fn escape_label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn format_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_grouped_and_labels_escaped() {
        let mut e = Exposition::new();
        e.counter("x_total", "X.", &[("stream", "live/a")], 3);
        e.gauge("y", "Y.", &[("stream", "live/a")], 1.5);
        e.counter("x_total", "X.", &[("stream", "we\"ird\\\n")], 4);
        e.gauge("z", "Z.", &[], 0.0);
        assert_eq!(
            e.render(),
            "# HELP x_total X.\n# TYPE x_total counter\n\
             x_total{stream=\"live/a\"} 3\n\
             x_total{stream=\"we\\\"ird\\\\\\n\"} 4\n\
             # HELP y Y.\n# TYPE y gauge\ny{stream=\"live/a\"} 1.5\n\
             # HELP z Z.\n# TYPE z gauge\nz 0\n"
        );
    }

    #[test]
    fn histograms_are_cumulative() {
        let mut e = Exposition::new();
        e.histogram(
            "h_seconds",
            "H.",
            &[("role", "edge")],
            &[0.005, 0.01],
            &[2, 0, 1],
            0.5,
        );
        assert_eq!(
            e.render(),
            "# HELP h_seconds H.\n# TYPE h_seconds histogram\n\
             h_seconds_bucket{role=\"edge\",le=\"0.005\"} 2\n\
             h_seconds_bucket{role=\"edge\",le=\"0.01\"} 2\n\
             h_seconds_bucket{role=\"edge\",le=\"+Inf\"} 3\n\
             h_seconds_sum{role=\"edge\"} 0.5\n\
             h_seconds_count{role=\"edge\"} 3\n"
        );
    }
}

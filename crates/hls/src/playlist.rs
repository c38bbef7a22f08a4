//! Resource names: the URI scheme of the crate documentation, both ways.

/// A resource below `NAME/`, as named in the media playlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `init-<n>.mp4`.
    Init(u32),
    /// `seg-<msn>.m4s`.
    Segment(u64),
    /// `part-<msn>-<i>.m4s`.
    Part(u64, u32),
}

impl Resource {
    /// The file name below `NAME/`.
    pub fn file_name(&self) -> String {
        match self {
            Resource::Init(n) => format!("init-{n}.mp4"),
            Resource::Segment(msn) => format!("seg-{msn}.m4s"),
            Resource::Part(msn, i) => format!("part-{msn}-{i}.m4s"),
        }
    }
}

/// Reads a file name below `NAME/` (`init-0.mp4`, `seg-12.m4s`, `part-12-3.m4s`); `None` for
/// anything else, which the edge answers with 404.
pub fn parse_uri(file_name: &str) -> Option<Resource> {
    fn number<T: std::str::FromStr>(s: &str) -> Option<T> {
        // Digits only: no sign, no whitespace, so each resource has exactly one name.
        if s.is_empty()
            || !s.bytes().all(|b| b.is_ascii_digit())
            || (s.len() > 1 && s.starts_with('0'))
        {
            return None;
        }
        s.parse().ok()
    }
    if let Some(n) = file_name
        .strip_prefix("init-")
        .and_then(|r| r.strip_suffix(".mp4"))
    {
        return number(n).map(Resource::Init);
    }
    if let Some(msn) = file_name
        .strip_prefix("seg-")
        .and_then(|r| r.strip_suffix(".m4s"))
    {
        return number(msn).map(Resource::Segment);
    }
    let rest = file_name.strip_prefix("part-")?.strip_suffix(".m4s")?;
    let (msn, i) = rest.split_once('-')?;
    Some(Resource::Part(number(msn)?, number(i)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in [
            Resource::Init(3),
            Resource::Segment(0),
            Resource::Part(41, 7),
        ] {
            assert_eq!(parse_uri(&r.file_name()), Some(r));
        }
        for bad in [
            "seg-01.m4s",
            "seg-+1.m4s",
            "part-1.m4s",
            "init-x.mp4",
            "seg-1.mp4",
            "",
        ] {
            assert_eq!(parse_uri(bad), None, "{bad}");
        }
    }
}

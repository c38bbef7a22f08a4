//! The request heads a listener reads itself before hyper (`relay_control::takeover`): any
//! bytes, whole or cut anywhere, must parse, wait for more, or be refused; never panic. A head
//! that parses must keep parsing the same with anything after it (a body, a pipelined request).

use relay_control::takeover::{parse_head, ParsedHead};

/// The input as the first bytes of a connection, then every prefix of it.
pub fn request_head(data: &[u8]) {
    if let ParsedHead::Complete(head) = parse_head(data) {
        assert!(head.target.starts_with(head.path()));
        assert!(head.http_minor <= 1);
        let mut longer = data.to_vec();
        longer.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        let ParsedHead::Complete(again) = parse_head(&longer) else {
            panic!("more bytes after a whole head are not looked at");
        };
        assert_eq!(again.target, head.target);
    }
    for cut in (0..data.len()).step_by(data.len() / 64 + 1) {
        let _ = parse_head(&data[..cut]);
    }
}

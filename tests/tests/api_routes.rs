//! The cloud's OpenAPI document is gathered from its route declarations (utoipa-axum's
//! `OpenApiRouter::routes(routes!(handler))`), so a route declared that way is documented by
//! construction. A route added with axum's own `route`, `route_service`, `nest` or
//! `nest_service` would be served and missing from the document: this test fails if the cloud's
//! or the room API's sources call any of them. (The other direction, every documented operation
//! answered, is tested in `relay-rooms-api` and by the e2e validator test.)

use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// axum's ways of adding a route that leave the OpenAPI document out.
const UNDOCUMENTED: [&str; 4] = ["route", "route_service", "nest", "nest_service"];

#[derive(Default)]
struct Calls {
    found: Vec<String>,
}

impl<'ast> Visit<'ast> for Calls {
    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let name = call.method.to_string();
        if UNDOCUMENTED.contains(&name.as_str()) {
            self.found.push(name);
        }
        syn::visit::visit_expr_method_call(self, call);
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("readable source dir")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_cloud_route_is_declared_for_the_openapi_document() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace");
    let mut files = Vec::new();
    for dir in ["cloud/src", "crates/rooms-api/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {files:?}");
    let mut offenders = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable source");
        let syntax = syn::parse_file(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
        let mut calls = Calls::default();
        calls.visit_file(&syntax);
        for name in calls.found {
            offenders.push(format!("{}: .{name}(…)", file.display()));
        }
    }
    assert!(
        offenders.is_empty(),
        "routes added outside the OpenAPI declarations (use .routes(routes!(handler))):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_check_sees_an_undocumented_route() {
    let syntax = syn::parse_file(
        "fn f() { let r = Router::new().route(\"/x\", get(h)).nest(\"/y\", other); }",
    )
    .expect("parses");
    let mut calls = Calls::default();
    calls.visit_file(&syntax);
    assert_eq!(calls.found, ["nest", "route"]);
}

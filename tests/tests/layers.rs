//! The layering rule, checked on the sources: within each crate of the workspace, no source
//! file imports a file that imports it back, directly or through others.
//!
//! Every file is a node (`a/b.rs` and `a/b/mod.rs` are module `a::b`, `lib.rs` or `main.rs`
//! the root). A file depends on another when it names an item of it: a `use` of, or a path
//! through, `crate::…`, `super::…`, `self::…` or a child module. A re-export (`pub use`) is a
//! facade, not a use: a path through it counts as a dependency on the file that defines the
//! item, and the re-exporting file does not depend on it. Test code (`#[cfg(test)]` items) is
//! left out: a unit test may reach anything. The dependencies between crates are Cargo's to
//! check; a crate with both `lib.rs` and `main.rs` is read from `lib.rs` (its binary uses the
//! library by its crate name).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// A module path inside one crate, `[]` for the root.
type ModPath = Vec<String>;

struct CrateSources {
    name: String,
    /// Module path → source file.
    files: BTreeMap<ModPath, PathBuf>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// The source directories of the workspace's crates: every `src` next to a `Cargo.toml`,
/// outside `target` and the fuzz workspace.
fn crate_src_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        if dir.join("Cargo.toml").is_file() && dir.join("src").is_dir() {
            out.push(dir.join("src"));
        }
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir()
                && !name.starts_with('.')
                && !matches!(name.as_ref(), "target" | "fuzz" | "src" | "node_modules")
            {
                pending.push(path);
            }
        }
    }
    out.sort();
    out
}

fn collect_files(src: &Path) -> CrateSources {
    let root_file = ["lib.rs", "main.rs"]
        .iter()
        .map(|f| src.join(f))
        .find(|p| p.is_file())
        .expect("a crate root");
    let mut files = BTreeMap::new();
    files.insert(Vec::new(), root_file);
    let mut pending = vec![(src.to_path_buf(), Vec::<String>::new())];
    while let Some((dir, prefix)) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable src").flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "bin" || !prefix.is_empty() {
                    let mut sub = prefix.clone();
                    sub.push(name);
                    pending.push((path, sub));
                }
                continue;
            }
            let Some(stem) = name.strip_suffix(".rs") else {
                continue;
            };
            let module = match (stem, prefix.is_empty()) {
                ("lib" | "main", true) => continue,
                ("mod", _) => prefix.clone(),
                (stem, _) => {
                    let mut m = prefix.clone();
                    m.push(stem.to_owned());
                    m
                }
            };
            files.insert(module, path);
        }
    }
    let name = src
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    CrateSources { name, files }
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr
                .meta
                .require_list()
                .is_ok_and(|list| list.tokens.to_string().contains("test"))
    })
}

/// What a file names: the paths it uses, each from its first segment as written, and the
/// names it re-exports with the path each stands for.
#[derive(Default)]
struct PathCollector {
    paths: Vec<Vec<String>>,
    reexports: BTreeMap<String, Vec<String>>,
}

/// The paths a use tree imports, with the name each is known by here (`None` for a glob).
fn use_paths(
    prefix: &mut Vec<String>,
    tree: &syn::UseTree,
    out: &mut Vec<(Option<String>, Vec<String>)>,
) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_paths(prefix, &p.tree, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let mut path = prefix.clone();
            path.push(n.ident.to_string());
            out.push((Some(n.ident.to_string()), path));
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            path.push(r.ident.to_string());
            out.push((Some(r.rename.to_string()), path));
        }
        syn::UseTree::Glob(_) => out.push((None, prefix.clone())),
        syn::UseTree::Group(g) => {
            for item in &g.items {
                use_paths(prefix, item, out);
            }
        }
    }
}

impl<'ast> Visit<'ast> for PathCollector {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Const(c) => &c.attrs,
            syn::Item::Static(s) => &s.attrs,
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Enum(e) => &e.attrs,
            _ => return syn::visit::visit_item(self, item),
        };
        if !is_cfg_test(attrs) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let mut imported = Vec::new();
        use_paths(&mut Vec::new(), &item.tree, &mut imported);
        let reexport = !matches!(item.vis, syn::Visibility::Inherited);
        for (name, path) in imported {
            match (reexport, name) {
                (true, Some(name)) => {
                    self.reexports.insert(name, path);
                }
                // A glob re-export: its names are not known here.
                (true, None) => {}
                (false, _) => self.paths.push(path),
            }
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.segments.len() > 1 {
            self.paths
                .push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        }
        syn::visit::visit_path(self, path);
    }
}

/// Each file's re-exports: module → name → the path it stands for, as written there.
type Reexports = BTreeMap<ModPath, BTreeMap<String, Vec<String>>>;

/// The file module a path written in `from` lands in, if it names one of this crate's files:
/// the file that defines the item, seen through re-exports (at most `depth` of them).
fn resolve(
    files: &BTreeMap<ModPath, PathBuf>,
    reexports: &Reexports,
    from: &ModPath,
    path: &[String],
    depth: usize,
) -> Option<ModPath> {
    let (base, rest): (ModPath, &[String]) = match path.first().map(String::as_str) {
        Some("crate") => (Vec::new(), &path[1..]),
        Some("self") => (from.clone(), &path[1..]),
        Some("super") => {
            let mut base = from.clone();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            (base, rest)
        }
        Some(first) => {
            // A child module of this file, named without `self::` (2018 paths).
            let mut child = from.clone();
            child.push(first.to_owned());
            if !files.contains_key(&child) {
                return None;
            }
            (from.clone(), path)
        }
        None => return None,
    };
    // The longest prefix that is a file, then the next name through that file's re-exports.
    let mut found = files.contains_key(&base).then(|| base.clone())?;
    let mut rest = rest;
    while let Some(segment) = rest.first() {
        let mut next = found.clone();
        next.push(segment.clone());
        if !files.contains_key(&next) {
            break;
        }
        found = next;
        rest = &rest[1..];
    }
    let through = rest
        .first()
        .and_then(|name| reexports.get(&found)?.get(name))
        .filter(|_| depth > 0);
    match through {
        Some(target) => resolve(files, reexports, &found, target, depth - 1).or(Some(found)),
        None => Some(found),
    }
}

type Graph = BTreeMap<ModPath, BTreeSet<ModPath>>;

fn dependency_graph(sources: &CrateSources) -> Graph {
    let mut uses = BTreeMap::new();
    let mut reexports = Reexports::new();
    for (module, file) in &sources.files {
        let text = std::fs::read_to_string(file).expect("readable source");
        let syntax = syn::parse_file(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
        let mut collector = PathCollector::default();
        collector.visit_file(&syntax);
        uses.insert(module.clone(), collector.paths);
        reexports.insert(module.clone(), collector.reexports);
    }
    let mut graph = Graph::new();
    for (module, paths) in &uses {
        let deps = graph.entry(module.clone()).or_default();
        for path in paths {
            if let Some(target) = resolve(&sources.files, &reexports, module, path, 8) {
                if &target != module {
                    deps.insert(target);
                }
            }
        }
    }
    graph
}

/// Strongly connected components of more than one file (Tarjan).
fn circles(graph: &Graph) -> Vec<Vec<ModPath>> {
    struct Tarjan<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g ModPath, usize>,
        low: BTreeMap<&'g ModPath, usize>,
        stack: Vec<&'g ModPath>,
        on_stack: BTreeSet<&'g ModPath>,
        found: Vec<Vec<ModPath>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, node: &'g ModPath) {
            let i = self.index.len();
            self.index.insert(node, i);
            self.low.insert(node, i);
            self.stack.push(node);
            self.on_stack.insert(node);
            for next in self.graph.get(node).into_iter().flatten() {
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[next].min(self.low[node]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(next) {
                    let low = self.index[next].min(self.low[node]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(top) = self.stack.pop() {
                    self.on_stack.remove(top);
                    component.push(top.clone());
                    if top == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut tarjan = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !tarjan.index.contains_key(node) {
            tarjan.visit(node);
        }
    }
    tarjan.found
}

fn show(module: &ModPath) -> String {
    if module.is_empty() {
        "(root)".into()
    } else {
        module.join("::")
    }
}

#[test]
fn no_source_file_imports_a_file_that_imports_it_back() {
    let root = workspace_root();
    let dirs = crate_src_dirs(&root);
    assert!(dirs.len() >= 10, "found only {dirs:?}");
    let mut report = Vec::new();
    for dir in &dirs {
        let sources = collect_files(dir);
        let graph = dependency_graph(&sources);
        for circle in circles(&graph) {
            let members: BTreeSet<&ModPath> = circle.iter().collect();
            let edges: Vec<String> = circle
                .iter()
                .flat_map(|from| {
                    graph[from]
                        .iter()
                        .filter(|to| members.contains(to))
                        .map(move |to| format!("{} -> {}", show(from), show(to)))
                })
                .collect();
            report.push(format!("{}: {}", sources.name, edges.join(", ")));
        }
    }
    assert!(report.is_empty(), "import circles:\n{}", report.join("\n"));
}

#[test]
fn the_checker_finds_a_circle_and_resolves_paths() {
    let files: BTreeMap<ModPath, PathBuf> = [
        vec![],
        vec!["a".to_owned()],
        vec!["a".to_owned(), "b".to_owned()],
        vec!["c".to_owned()],
    ]
    .into_iter()
    .map(|m| (m, PathBuf::new()))
    .collect();
    let a = vec!["a".to_owned()];
    let ab = vec!["a".to_owned(), "b".to_owned()];
    let c = vec!["c".to_owned()];
    let p = |s: &str| s.split("::").map(str::to_owned).collect::<Vec<_>>();
    let mut reexports = Reexports::new();
    reexports.insert(vec![], [("Thing".to_owned(), p("a::b::Thing"))].into());
    let r = |from: &ModPath, path: &str| resolve(&files, &reexports, from, &p(path), 8);
    assert_eq!(r(&ab, "super::Thing"), Some(a.clone()));
    assert_eq!(r(&a, "b::Thing"), Some(ab.clone()));
    assert_eq!(r(&c, "crate::a::b::f"), Some(ab.clone()));
    assert_eq!(
        r(&c, "crate::Thing"),
        Some(ab.clone()),
        "through the root's re-export"
    );
    assert_eq!(r(&c, "crate::Other"), Some(vec![]));
    assert_eq!(r(&c, "std::sync::Arc"), None);
    let mut graph = Graph::new();
    graph.insert(a.clone(), [ab.clone()].into());
    graph.insert(ab.clone(), [c.clone()].into());
    graph.insert(c.clone(), [a.clone()].into());
    assert_eq!(
        circles(&graph),
        vec![vec![a.clone(), ab.clone(), c.clone()]]
    );
    graph.insert(c.clone(), BTreeSet::new());
    assert!(circles(&graph).is_empty());
}

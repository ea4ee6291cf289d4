//! The map of ARCHITECTURE.md, checked: what each layer may not import, and
//! no two files of the graph importing each other (directly or round about).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The code of every `.rs` file under `dir` (or the file `dir.rs`), comments
/// left out.
fn code_of(module: &str) -> Vec<(PathBuf, String)> {
    let dir = src().join(module);
    let mut files = Vec::new();
    if dir.is_dir() {
        let mut stack = vec![dir];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).expect("a directory") {
                let path = entry.expect("an entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
    } else {
        files.push(src().join(format!("{module}.rs")));
    }
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("source");
            let code: Vec<&str> = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect();
            (path, code.join("\n"))
        })
        .collect()
}

#[test]
fn no_layer_imports_what_it_must_not() {
    // (layer, what it must not import)
    let rules: &[(&str, &[&str])] = &[
        ("auth", &["crate::graph", "crate::http", "async_graphql"]),
        (
            "purecloud",
            &[
                "crate::graph",
                "crate::http",
                "crate::source",
                "crate::cache",
                "async_graphql",
            ],
        ),
        (
            "upstream",
            &[
                "crate::graph",
                "crate::http",
                "crate::source",
                "crate::purecloud",
                "crate::auth",
                "crate::messenger",
            ],
        ),
        (
            "messenger",
            &[
                "crate::graph",
                "crate::http",
                "crate::store",
                "crate::source",
                "crate::live",
                "async_graphql",
                "reqwest",
                "axum",
            ],
        ),
        (
            "store",
            &[
                "crate::graph",
                "crate::http",
                "crate::live",
                "crate::source",
                "async_graphql",
            ],
        ),
        (
            "replicas",
            &["crate::http", "async_graphql", "axum", "reqwest"],
        ),
        (
            "zoom",
            &[
                "crate::graph",
                "crate::http",
                "crate::store",
                "async_graphql",
            ],
        ),
        ("engage", &["crate::graph", "crate::http", "async_graphql"]),
        ("graph", &["crate::http", "reqwest", "axum"]),
        (
            "source",
            &[
                "crate::graph",
                "crate::http",
                "async_graphql",
                "crate::live",
            ],
        ),
        (
            "live",
            &[
                "crate::graph",
                "crate::http",
                "async_graphql",
                "reqwest",
                "axum",
            ],
        ),
    ];
    for (layer, forbidden) in rules {
        for (path, code) in code_of(layer) {
            for name in *forbidden {
                assert!(
                    !code.contains(&format!("{name}::")) && !code.contains(&format!("use {name};")),
                    "{} ({layer}) uses {name}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn no_two_files_of_the_graph_import_each_other() {
    let files = code_of("graph");
    // A file of a folder below the graph (`compiled/plan.rs`) is part of
    // that folder's module; the graph's own `mod.rs` is the root.
    let nested = |path: &Path| {
        let parent = path.parent().and_then(|p| p.file_name());
        parent
            .filter(|name| *name != "graph")
            .map(|name| name.to_string_lossy().into_owned())
    };
    let module = |path: &Path| match nested(path) {
        Some(folder) => folder,
        None => path
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .into_owned(),
    };
    let siblings: BTreeSet<String> = files
        .iter()
        .map(|(p, _)| module(p))
        .filter(|m| m != "mod")
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, code) in &files {
        let from = module(path);
        if from == "mod" {
            continue; // the root wires the children and nothing imports it
        }
        // `crate::graph::x` is `super::x` said the long way; a file's tests
        // (at its end) may reach anywhere.
        let code = code
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default();
        // In a nested module's files, `super::` is the folder's own root
        // (inside the module) and `super::super::` the graph's.
        let inner = nested(path).is_some() && path.file_stem().is_some_and(|s| s != "mod");
        let up = if inner { "super::super::" } else { "super::" };
        let code = code.replace("crate::graph::", up);
        let mut rest = code.as_str();
        while let Some(at) = rest.find(up) {
            rest = &rest[at + up.len()..];
            let ident = |text: &str| -> String {
                text.trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '*')
                    .collect()
            };
            let names: Vec<String> = match rest.strip_prefix('{') {
                Some(list) => list[..list.find('}').expect("a closing brace")]
                    .split(',')
                    .map(ident)
                    .collect(),
                None => vec![ident(rest)],
            };
            for name in &names {
                // A test module's `super::super` is its file's parent.
                if name.is_empty() || name == "*" || name == "super" || name == "self" {
                    continue;
                }
                assert!(
                    siblings.contains(name),
                    "{from}.rs imports `{up}{name}` from the graph's root; move it to a leaf module"
                );
                edges.entry(from.clone()).or_default().insert(name.clone());
            }
        }
    }
    // Depth-first search for a cycle.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(at) = path.iter().position(|n| n == node) {
            panic!("graph files import each other: {:?}", &path[at..]);
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, path, done);
        }
        path.pop();
        done.insert(node.to_owned());
    }
    let mut done = BTreeSet::new();
    for node in &siblings {
        visit(node, &edges, &mut Vec::new(), &mut done);
    }
}

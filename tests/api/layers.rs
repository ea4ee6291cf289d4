//! The map of ARCHITECTURE.md, checked over the source: every top-level
//! module stands on a floor and imports only from the floors below it (so
//! no two import each other, directly or round about); no two files of one
//! folder import each other; each layer leaves alone the crates it must not
//! use.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The floors of the crate, from the top down. A module may import any
/// module on a floor below its own, and none on its own floor or above.
const FLOORS: &[(&str, &[&str])] = &[
    (
        "start-up and the operators' commands",
        &["startup", "check"],
    ),
    ("the HTTP edge", &["http"]),
    (
        "the GraphQL schema; several replicas",
        &["graph", "replicas"],
    ),
    ("the session-update channel's message", &["updates"]),
    (
        "live PureCloud, callers, Engage keys",
        &["live", "auth", "engage"],
    ),
    ("what resolvers read; the event store", &["source", "store"]),
    (
        "the cache, analytics jobs, the simulator",
        &["cache", "jobs", "sim"],
    ),
    (
        "the domain: PureCloud and Messenger",
        &["purecloud", "messenger"],
    ),
    (
        "the upstream client, Zoom's events, settings, request-scoped notes",
        &[
            "upstream",
            "zoom",
            "settings",
            "freshness",
            "singleflight",
            "redis_state",
        ],
    ),
    (
        "leaves",
        &[
            "canonical",
            "changes",
            "deadline",
            "metrics",
            "nesting",
            "origin",
            "secret",
            "throttle",
        ],
    ),
];

/// Crates (and crate modules) a layer must not use, beyond the floors:
/// the GraphQL engine and the HTTP stack stay at the edge.
const CRATES: &[(&str, &[&str])] = &[
    ("auth", &["async_graphql"]),
    ("purecloud", &["async_graphql"]),
    ("messenger", &["async_graphql", "reqwest", "axum"]),
    ("store", &["async_graphql"]),
    ("replicas", &["async_graphql", "axum", "reqwest"]),
    ("zoom", &["async_graphql"]),
    ("engage", &["async_graphql"]),
    ("graph", &["reqwest", "axum"]),
    ("source", &["async_graphql"]),
    ("live", &["async_graphql", "reqwest", "axum"]),
    ("updates", &["async_graphql", "reqwest", "axum"]),
    ("cache", &["async_graphql", "axum"]),
    ("settings", &["async_graphql", "axum"]),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// One source file: its module path (`graph::compiled::plan`; the crate's
/// root is empty) and its code, comments and the tests at its end left out
/// (a file's tests may reach anywhere).
struct File {
    path: PathBuf,
    module: Vec<String>,
    code: String,
}

fn files() -> Vec<File> {
    let mut found = Vec::new();
    let mut stack = vec![src()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).expect("a directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                // A folder's `tests.rs` is its tests, which may reach anywhere.
                && path.file_name().is_some_and(|n| n != "tests.rs")
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(src()).expect("under src");
            let mut module: Vec<String> = relative
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|m| m == "mod") {
                module.pop();
            }
            if module == ["lib"] || module == ["main"] {
                module.clear();
            }
            let text = std::fs::read_to_string(&path).expect("source");
            let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
            let code = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            File { path, module, code }
        })
        .collect()
}

/// An identifier at the start of `text`.
fn ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// Every path the code names from `crate::` or `super::`, with use-lists
/// (`use super::{a, b::{c, d}}`) spelled out.
fn named_paths(code: &str) -> Vec<Vec<String>> {
    fn expand(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
        let mut path = prefix.to_vec();
        let mut rest = tree.trim();
        loop {
            if let Some(list) = rest.strip_prefix('{') {
                let mut depth = 0;
                let mut start = 0;
                for (at, c) in list.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => {
                            expand(&path, &list[start..at], out);
                            return;
                        }
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            expand(&path, &list[start..at], out);
                            start = at + 1;
                        }
                        _ => {}
                    }
                }
                return;
            }
            let name = ident(rest);
            if name.is_empty() || name == "self" {
                break;
            }
            path.push(name.to_owned());
            match rest[name.len()..].strip_prefix("::") {
                Some(more) => rest = more,
                None => break,
            }
        }
        if path.len() > prefix.len() || !prefix.is_empty() {
            out.push(path);
        }
    }
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(['c', 's']) {
        let before = rest[..at].chars().last();
        rest = &rest[at..];
        let starts = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
        let head = ident(rest);
        if starts && (head == "crate" || head == "super") && rest[head.len()..].starts_with("::") {
            let mut prefix = vec![head.to_owned()];
            let mut tail = &rest[head.len() + 2..];
            while tail.starts_with("super::") {
                prefix.push("super".to_owned());
                tail = &tail["super::".len()..];
            }
            // The tree ends where the path does: at a brace's close, or at
            // anything that is not part of a path.
            let end = if tail.starts_with('{') {
                let mut depth = 0;
                tail.char_indices()
                    .find(|&(_, c)| {
                        depth += i32::from(c == '{') - i32::from(c == '}');
                        depth == 0
                    })
                    .map_or(tail.len(), |(at, _)| at + 1)
            } else {
                tail.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '{'))
                    .unwrap_or(tail.len())
            };
            expand(&prefix, &tail[..end], &mut out);
            rest = &rest[head.len()..];
        } else {
            rest = &rest[head.len().max(1)..];
        }
    }
    out
}

/// The import graph between modules: for each module, the modules it
/// names (the longest known module each path starts with).
fn imports(files: &[File]) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let modules: BTreeSet<&Vec<String>> = files.iter().map(|f| &f.module).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in files {
        for path in named_paths(&file.code) {
            let mut target: Vec<String> = Vec::new();
            let mut names = path.iter().peekable();
            if names.peek().is_some_and(|n| *n == "crate") {
                names.next();
            } else {
                target = file.module.clone();
                while names.peek().is_some_and(|n| *n == "super") {
                    names.next();
                    target.pop();
                }
            }
            target.extend(names.cloned());
            while !target.is_empty() && !modules.contains(&target) {
                target.pop();
            }
            if !target.is_empty() && target != file.module {
                edges.entry(file.module.clone()).or_default().insert(target);
            }
        }
    }
    edges
}

/// A cycle of `edges`, if there is one.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, edges, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

/// The edges between the children of `folder` (a module path): a child
/// imports another when any file inside it names anything inside the other.
/// The folder's own root (`mod.rs`) wires its children and is left out.
fn between_children(
    folder: &[String],
    edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
) -> BTreeMap<String, BTreeSet<String>> {
    let child = |module: &Vec<String>| -> Option<String> {
        (module.len() > folder.len() && module.starts_with(folder))
            .then(|| module[folder.len()].clone())
    };
    let mut between: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in edges {
        let Some(a) = child(from) else { continue };
        for target in targets {
            if let Some(b) = child(target).filter(|b| *b != a) {
                between.entry(a.clone()).or_default().insert(b);
            }
        }
    }
    between
}

fn floor_of(module: &str) -> Option<usize> {
    FLOORS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

#[test]
fn every_top_level_module_stands_on_a_floor_and_imports_only_from_below() {
    let files = files();
    let mut unplaced = BTreeSet::new();
    for file in &files {
        if let Some(top) = file.module.first() {
            if floor_of(top).is_none() {
                unplaced.insert(top.clone());
            }
        }
    }
    assert!(
        unplaced.is_empty(),
        "put these modules on a floor of FLOORS (and in ARCHITECTURE.md): {unplaced:?}"
    );
    let mut wrong = Vec::new();
    let mut top_level: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in imports(&files) {
        let Some(a) = from.first() else { continue };
        for target in targets {
            let b = &target[0];
            if a == b {
                continue;
            }
            top_level.entry(a.clone()).or_default().insert(b.clone());
            let (fa, fb) = (floor_of(a).expect("placed"), floor_of(b).expect("placed"));
            if fb <= fa {
                wrong.push(format!(
                    "{} ({}) imports {} ({})",
                    from.join("::"),
                    FLOORS[fa].0,
                    target.join("::"),
                    FLOORS[fb].0
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the flow:\n{}",
        wrong.join("\n")
    );
    assert_eq!(
        cycle(&top_level),
        None,
        "top-level modules import each other"
    );
}

#[test]
fn no_two_files_of_one_folder_import_each_other() {
    let files = files();
    let edges = imports(&files);
    let folders: BTreeSet<Vec<String>> = files
        .iter()
        .filter(|f| f.path.ends_with("mod.rs") || f.module.is_empty())
        .map(|f| f.module.clone())
        .collect();
    assert!(folders.len() > 10, "the folders are found: {folders:?}");
    for folder in folders {
        let between = between_children(&folder, &edges);
        if let Some(found) = cycle(&between) {
            panic!(
                "files of src/{} import each other: {}",
                folder.join("/"),
                found.join(" -> ")
            );
        }
    }
}

#[test]
fn the_checks_see_an_import_cycle_when_there_is_one() {
    // Two files of a folder importing each other by every spelling the
    // code uses: a use-list, a nested list, a path in an expression.
    let file = |module: &[&str], code: &str| File {
        path: PathBuf::from(module.join("/")),
        module: module.iter().map(|m| (*m).to_owned()).collect(),
        code: code.to_owned(),
    };
    let files = [
        file(&["a"], "pub mod b; pub mod c;"),
        file(&["a", "b"], "use super::{x, c::{Y, z}};"),
        file(&["a", "c"], "fn f() { crate::a::b::g(); }"),
        file(&["d"], "use crate::a::c::Y;"),
    ];
    let edges = imports(&files);
    let between = between_children(&["a".to_owned()], &edges);
    assert_eq!(
        cycle(&between).map(|c| c.join(" -> ")),
        Some("b -> c -> b".to_owned())
    );
    assert!(edges[&vec!["d".to_owned()]].contains(&vec!["a".to_owned(), "c".to_owned()]));
}

#[test]
fn no_layer_uses_the_crates_it_must_not() {
    let files = files();
    for (layer, crates) in CRATES {
        assert!(floor_of(layer).is_some(), "{layer} is a module");
        for file in files
            .iter()
            .filter(|f| f.module.first().is_some_and(|m| m == layer))
        {
            for name in *crates {
                assert!(
                    !file.code.contains(&format!("{name}::")),
                    "{} ({layer}) uses {name}",
                    file.path.display()
                );
            }
        }
    }
}

#[test]
fn the_graph_asks_the_domain_for_upstream_queries_and_builds_none() {
    for file in files()
        .iter()
        .filter(|f| f.module.first().is_some_and(|m| m == "graph"))
    {
        for built in [
            "DetailsQuery {",
            "AggregatesQuery {",
            "Predicate::",
            "Filter::",
        ] {
            // A value built (not a function returning one, nor another
            // type whose name ends alike).
            let builds = file.code.match_indices(built).any(|(at, _)| {
                let before = &file.code[..at];
                !before.ends_with("-> ")
                    && !before.ends_with(|c: char| c.is_alphanumeric() || c == '_')
            });
            assert!(
                !builds,
                "{} builds an upstream query (`{built}`): build it in purecloud::queries",
                file.path.display()
            );
        }
    }
}

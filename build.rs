//! Embeds the GraphiQL assets that `npm ci --prefix web` installs, so the
//! gateway serves GraphiQL from its own origin. When they are not installed,
//! the page falls back to a CDN (and says so in the log at start-up).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// (name served under /graphiql/assets/, file under web/node_modules, content type)
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "graphiql.min.js",
        "graphiql/graphiql.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "graphiql.min.css",
        "graphiql/graphiql.min.css",
        "text/css; charset=utf-8",
    ),
    (
        "react.production.min.js",
        "react/umd/react.production.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "react-dom.production.min.js",
        "react-dom/umd/react-dom.production.min.js",
        "text/javascript; charset=utf-8",
    ),
];

fn main() {
    let root =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let modules = root.join("web").join("node_modules");
    println!("cargo:rerun-if-changed=web/package-lock.json");
    let mut found = Vec::new();
    for (name, file, content_type) in ASSETS {
        let path = modules.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_file() {
            found.push((name, path, content_type));
        }
    }
    let out =
        PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("graphiql_assets.rs");
    let code = if found.len() == ASSETS.len() {
        let entries: String = found
            .iter()
            .map(|(name, path, content_type)| {
                format!(
                    "    ({name:?}, {content_type:?}, include_bytes!({:?})),\n",
                    absolute(path)
                )
            })
            .collect();
        format!("/// The embedded GraphiQL assets: (name, content type, bytes).\npub const EMBEDDED: Option<&[(&str, &str, &[u8])]> = Some(&[\n{entries}]);\n")
    } else {
        println!(
            "cargo:warning=GraphiQL assets are not installed (run `npm ci --prefix web`); /graphiql will load them from a CDN"
        );
        "/// The embedded GraphiQL assets: none were installed at build time.\npub const EMBEDDED: Option<&[(&str, &str, &[u8])]> = None;\n".to_owned()
    };
    fs::write(out, code).expect("OUT_DIR is writable");
}

fn absolute(path: &Path) -> String {
    path.canonicalize()
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

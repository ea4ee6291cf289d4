//! What users and operators see of the gateway, in one snapshot
//! (`tests/fixtures/surface.txt`): `--help` of every command, the settings
//! with their environment variables and defaults, the metrics with their
//! labels and help, and the error codes the code answers with (the schema
//! has its own, `schema.graphql`). A change of any of them fails here
//! until the snapshot is written again on purpose:
//! `COBROWSE_WRITE_SURFACE=1 cargo test --test api surface`. Reshaping the
//! code must leave it byte-identical.

use std::collections::BTreeSet;

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/surface.txt");

/// The subcommands `--help` lists.
fn commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

async fn help(args: &[&str]) -> String {
    let output = crate::helpers::command(args)
        // Help is wrapped to the terminal's width where it is known.
        .env("COLUMNS", "100")
        .output()
        .await
        .expect("the binary runs");
    assert!(output.status.success(), "{args:?}");
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// The upper-case codes (`UPSTREAM_FORBIDDEN`) string literals of the
/// product's code spell, the simulator's and the tests' aside.
fn error_codes() -> BTreeSet<String> {
    let mut codes = BTreeSet::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut folders = vec![root];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "sim") {
                    folders.push(path);
                }
                continue;
            }
            // A folder's `tests.rs` is a module of tests, like the
            // `#[cfg(test)]` end of a file.
            if path.extension().is_none_or(|e| e != "rs")
                || path.file_name().is_some_and(|n| n == "tests.rs")
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable");
            let text = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or_default();
            for literal in text.split('"').skip(1).step_by(2) {
                let code = (literal.len() >= 8 || (literal.len() >= 4 && literal.contains('_')))
                    && literal != "CARGO_PKG_VERSION"
                    && !literal.starts_with("COBROWSE_")
                    && literal
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
                    && literal.starts_with(|c: char| c.is_ascii_uppercase());
                if code {
                    codes.insert(literal.to_owned());
                }
            }
        }
    }
    codes
}

#[tokio::test]
async fn what_users_and_operators_see_is_the_snapshot() {
    let mut out = String::new();
    let top = help(&["--help"]).await;
    out += "## cobrowse-gateway --help\n";
    out += &top;
    for command in commands(&top) {
        out += &format!("\n## cobrowse-gateway {command} --help\n");
        out += &help(&[&command, "--help"]).await;
    }
    out += "\n## settings (path, environment variable, default)\n";
    for s in cobrowse_gateway::settings::SETTINGS {
        out += &format!("{} {} {:?}\n", s.path, s.env, s.default);
    }
    out += "\n## metrics (name, labels, help)\n";
    for line in cobrowse_gateway::check::metrics_catalogue() {
        out += &line;
        out.push('\n');
    }
    out += "\n## error codes\n";
    for code in error_codes() {
        out += &code;
        out.push('\n');
    }
    if std::env::var_os("COBROWSE_WRITE_SURFACE").is_some() {
        std::fs::write(SNAPSHOT, &out).expect("written");
    }
    let snapshot = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    if snapshot != out {
        let first = snapshot
            .lines()
            .zip(out.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(snapshot.lines().count().min(out.lines().count()));
        panic!(
            "what users and operators see changed (line {}): `{}` became `{}`. If on purpose, write it again: COBROWSE_WRITE_SURFACE=1 cargo test --test api surface",
            first + 1,
            snapshot.lines().nth(first).unwrap_or("(nothing)"),
            out.lines().nth(first).unwrap_or("(nothing)")
        );
    }
}

//! What users and operators see of the gateway, in one snapshot
//! (`tests/fixtures/surface.txt`): `--help` of every command, the settings
//! with their environment variables and defaults, the metrics with their
//! labels and help, the fields of its log lines, and the error codes the
//! code answers with (the schema
//! has its own, `schema.graphql`). A change of any of them fails here
//! until the snapshot is written again on purpose:
//! `COBROWSE_WRITE_SURFACE=1 cargo test --test api surface`. Reshaping the
//! code must leave it byte-identical.

use std::collections::{BTreeMap, BTreeSet};

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

/// The text of every file of the product's code (the simulator's and the
/// tests' aside), each cut where its tests begin.
fn product_code() -> Vec<String> {
    let mut texts = Vec::new();
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
            let code = text.split("#[cfg(test)]\nmod tests").next();
            texts.push(code.unwrap_or_default().to_owned());
        }
    }
    texts
}

/// The upper-case codes (`UPSTREAM_FORBIDDEN`) string literals of the
/// product's code spell.
fn error_codes(code: &[String]) -> BTreeSet<String> {
    let mut codes = BTreeSet::new();
    for text in code {
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
    codes
}

/// The fields the product's log lines carry, each with the levels it is
/// logged at (`status debug info`): the names operators filter on. Read
/// from every `info!`, `warn!`, `error!`, `debug!`, `trace!` and span (its
/// `name = value` and `%name` / `?name` arguments), every `fields(...)` of
/// an `#[instrument]`, and every field a span records later.
fn log_fields(code: &[String]) -> BTreeMap<String, BTreeSet<&'static str>> {
    const MACROS: [(&str, &str); 8] = [
        ("info!(", "info"),
        ("warn!(", "warn"),
        ("error!(", "error"),
        ("debug!(", "debug"),
        ("trace!(", "trace"),
        ("info_span!(", "span"),
        ("debug_span!(", "span"),
        ("span!(", "span"),
    ];
    let mut fields: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for text in code {
        for (name, level) in MACROS {
            for (at, _) in text.match_indices(name) {
                let preceded = text[..at].chars().next_back();
                if preceded.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue; // `debug_span!(` is not `span!(`
                }
                let mut text = &text[at + name.len()..];
                if level == "span" {
                    // A span's first argument is its name.
                    let name = top_level(text).first().map_or(0, |n| n.len() + 1);
                    text = &text[name.min(text.len())..];
                }
                for field in arguments(text) {
                    fields.entry(field).or_default().insert(level);
                }
            }
        }
        for instrumented in text.split("instrument(").skip(1) {
            let Some(declared) = top_level(instrumented)
                .into_iter()
                .find_map(|a| a.trim().strip_prefix("fields("))
            else {
                continue;
            };
            for field in arguments(declared) {
                fields.entry(field).or_default().insert("span");
            }
        }
        for recorded in text.split(".record(\"").skip(1) {
            let field = recorded.split('"').next().unwrap_or_default();
            fields.entry(field.to_owned()).or_default().insert("span");
        }
    }
    fields
}

/// The field names among a macro's arguments, `text` starting just after
/// its opening parenthesis: those before its message (a string literal;
/// what follows it is formatted into the message).
fn arguments(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for argument in top_level(text) {
        let argument = argument.trim();
        if argument.starts_with('"') {
            break;
        }
        let argument = argument.trim_start_matches(['%', '?']);
        let name: String = argument
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        let rest = argument[name.len()..].trim_start();
        if name.starts_with(|c: char| c.is_ascii_lowercase())
            && (rest.is_empty() || (rest.starts_with('=') && !rest.starts_with("==")))
        {
            found.push(name);
        }
    }
    found
}

/// The arguments of a call, `text` starting just after its opening
/// parenthesis: split at its own commas, up to its closing parenthesis.
fn top_level(text: &str) -> Vec<&str> {
    let (mut depth, mut quoted, mut escaped, mut from) = (0, false, false, 0);
    let mut arguments = Vec::new();
    for (at, c) in text.char_indices() {
        if quoted {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth == 0 => {
                arguments.push(&text[from..at]);
                break;
            }
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                arguments.push(&text[from..at]);
                from = at + 1;
            }
            _ => {}
        }
    }
    arguments
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
    let code = product_code();
    out += "\n## log fields (name, levels)\n";
    for (field, levels) in log_fields(&code) {
        let levels: Vec<&str> = levels.into_iter().collect();
        out += &format!("{field} {}\n", levels.join(" "));
    }
    out += "\n## error codes\n";
    for code in error_codes(&code) {
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

//! `schema.graphql` is the exported SDL; this fails when it is stale.
//! Regenerate with `cargo run -- schema > schema.graphql`.

#[test]
fn schema_graphql_matches_the_schema_the_code_builds() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let on_disk = std::fs::read_to_string(path).expect("schema.graphql exists");
    let built = cobrowse_gateway::graph::sdl();
    assert!(
        on_disk == built,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql` and commit it"
    );
}

#[test]
fn the_readme_documents_every_setting() {
    let readme = crate::helpers::documentation();
    for setting in cobrowse_gateway::settings::SETTINGS {
        assert!(
            readme.contains(&format!("`{}`", setting.path))
                && readme.contains(&format!("`{}`", setting.env)),
            "README.md documents {} ({})",
            setting.path,
            setting.env
        );
    }
}

#[test]
fn the_readme_shows_the_dashboard_query_the_tests_and_the_benchmark_send() {
    let readme = crate::helpers::documentation();
    assert!(
        readme.contains(&format!("```graphql\n{}```", crate::helpers::DASHBOARD)),
        "README.md shows tests/queries/dashboard.graphql exactly"
    );
}

/// Descriptions are paragraphs, as GraphiQL's docs show them: no line
/// break inside a sentence (a hard-wrapped doc comment). Lists, tables and
/// code keep their lines.
#[test]
fn schema_descriptions_are_paragraphs_not_wrapped_lines() {
    let sdl = cobrowse_gateway::graph::sdl();
    let mut wrapped = Vec::new();
    for (i, block) in sdl.split("\"\"\"").enumerate() {
        if i % 2 == 0 {
            continue;
        }
        let lines: Vec<&str> = block.trim().lines().map(str::trim).collect();
        let mut in_code = false;
        for pair in lines.windows(2) {
            let (line, next) = (pair[0], pair[1]);
            if line.starts_with("```") {
                in_code = !in_code;
            }
            let starts_own_line = next.is_empty()
                || next.starts_with(['-', '*', '|', '#'])
                || next.starts_with("```")
                || next
                    .split_once(". ")
                    .is_some_and(|(n, _)| n.parse::<u32>().is_ok());
            let ends_sentence = line.is_empty() || line.ends_with(['.', ':', '!', '?', '|']);
            if !in_code && !starts_own_line && !ends_sentence {
                wrapped.push(format!("{line}⏎{next}"));
            }
        }
    }
    assert!(
        wrapped.is_empty(),
        "{} descriptions break a sentence across lines (write the doc comment's paragraph on one line):\n{}",
        wrapped.len(),
        wrapped.join("\n")
    );
}

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
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
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
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    assert!(
        readme.contains(&format!("```graphql\n{}```", crate::helpers::DASHBOARD)),
        "README.md shows tests/queries/dashboard.graphql exactly"
    );
}

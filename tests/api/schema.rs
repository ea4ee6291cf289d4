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

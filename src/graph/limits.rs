//! Query limits, checked before anything runs.
//!
//! A document is measured right after parsing (aliases, root fields,
//! introspection) and after validation (depth, and complexity as
//! async-graphql computes it: one per field, with connection fields
//! weighting their selection by `first`/`last` and `nodes` by its ids). An
//! over-limit document is refused with a specific code and the measured
//! value and the limit in `extensions` (`measured`, `limit`), before any
//! resolver (and so before any upstream call) runs. The document's size and
//! the nesting of its brackets are checked before parsing ([`check_text`]),
//! whatever transport brought it: a recursive parser never sees a document
//! that could overflow its stack.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, ValidationResult, Variables};

use crate::settings::LimitSettings;

/// The page size connection fields assume in complexity when neither
/// `first` nor `last` is given (what they return then, at most).
pub(crate) const DEFAULT_PAGE_SIZE: usize = 50;

/// Codes of refused documents.
pub(crate) mod code {
    pub(crate) const QUERY_TOO_DEEP: &str = "QUERY_TOO_DEEP";
    pub(crate) const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
    pub(crate) const TOO_MANY_ALIASES: &str = "TOO_MANY_ALIASES";
    pub(crate) const TOO_MANY_ROOT_FIELDS: &str = "TOO_MANY_ROOT_FIELDS";
    pub(crate) const QUERY_TOO_LARGE: &str = "QUERY_TOO_LARGE";
    pub(crate) const NESTING_TOO_DEEP: &str = "NESTING_TOO_DEEP";
    pub(crate) const INTROSPECTION_DISABLED: &str = "INTROSPECTION_DISABLED";
}

/// The limits, as an async-graphql extension.
#[derive(Clone, Debug)]
pub(crate) struct QueryLimits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub max_document_bytes: usize,
    pub max_nesting: usize,
    pub introspection: bool,
}

impl QueryLimits {
    /// The limits of the settings.
    pub(crate) fn new(limits: &LimitSettings, introspection: bool) -> Self {
        Self {
            max_depth: limits.max_depth,
            max_complexity: limits.max_complexity,
            max_aliases: limits.max_aliases,
            max_root_fields: limits.max_root_fields,
            max_document_bytes: limits.max_document_bytes,
            max_nesting: limits.max_nesting,
            introspection,
        }
    }
}

impl ExtensionFactory for QueryLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

/// Checks a document's text before it is parsed: its size, then how deeply
/// its brackets nest (a loop over the bytes, no recursion).
pub(crate) fn check_text(
    query: &str,
    max_bytes: usize,
    max_nesting: usize,
) -> Result<(), ServerError> {
    check_size(query, max_bytes)?;
    check_nesting(query, max_nesting)
}

/// Checks a document's size in bytes.
pub(crate) fn check_size(query: &str, max_bytes: usize) -> Result<(), ServerError> {
    if query.len() > max_bytes {
        return Err(refusal(
            code::QUERY_TOO_LARGE,
            "size in bytes",
            query.len(),
            max_bytes,
        ));
    }
    Ok(())
}

/// Checks how deeply a document's braces, brackets and parentheses nest.
pub(crate) fn check_nesting(query: &str, max_nesting: usize) -> Result<(), ServerError> {
    let nesting = crate::nesting::graphql(query);
    if nesting > max_nesting {
        return Err(refusal(
            code::NESTING_TOO_DEEP,
            "nesting of braces, brackets and parentheses",
            nesting,
            max_nesting,
        ));
    }
    Ok(())
}

/// Checks how deeply variables nest (arrays and objects).
pub(crate) fn check_variables(
    variables: &serde_json::Map<String, serde_json::Value>,
    max_nesting: usize,
) -> Result<(), ServerError> {
    let nesting = variables
        .values()
        .map(crate::nesting::value)
        .max()
        .unwrap_or(0);
    if nesting > max_nesting {
        return Err(refusal(
            code::NESTING_TOO_DEEP,
            "nesting of arrays and objects in the variables",
            nesting,
            max_nesting,
        ));
    }
    Ok(())
}

/// A refusal with its code, measured value and limit.
pub(crate) fn refusal(
    code: &'static str,
    what: &str,
    measured: usize,
    limit: usize,
) -> ServerError {
    let message = format!("the query's {what} is {measured}, above the limit of {limit}");
    let mut error = ServerError::new(message, None);
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", code);
    extensions.set("measured", measured as u64);
    extensions.set("limit", limit as u64);
    error
}

#[async_graphql::async_trait::async_trait]
impl Extension for QueryLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        check_text(query, self.max_document_bytes, self.max_nesting)?;
        let document = next.run(ctx, query, variables).await?;
        let measure = Measure::of(&document);
        if measure.aliases > self.max_aliases {
            return Err(refusal(
                code::TOO_MANY_ALIASES,
                "number of aliases",
                measure.aliases,
                self.max_aliases,
            ));
        }
        if measure.root_fields > self.max_root_fields {
            return Err(refusal(
                code::TOO_MANY_ROOT_FIELDS,
                "number of root fields",
                measure.root_fields,
                self.max_root_fields,
            ));
        }
        if !self.introspection && measure.introspects {
            let mut error = ServerError::new(
                "introspection is turned off on this gateway (server.introspection); the schema is published as schema.graphql",
                None,
            );
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", code::INTROSPECTION_DISABLED);
            return Err(error);
        }
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        if result.depth > self.max_depth {
            return Err(vec![refusal(
                code::QUERY_TOO_DEEP,
                "depth",
                result.depth,
                self.max_depth,
            )]);
        }
        if result.complexity > self.max_complexity {
            return Err(vec![refusal(
                code::QUERY_TOO_COMPLEX,
                "complexity",
                result.complexity,
                self.max_complexity,
            )]);
        }
        Ok(result)
    }
}

/// What parsing tells about a document.
#[derive(Debug, Default, PartialEq)]
struct Measure {
    /// Aliased fields, with fragments expanded where they are spread.
    aliases: usize,
    /// The most root fields of any operation, fragments expanded.
    root_fields: usize,
    /// Whether any operation selects `__schema` or `__type` at its root.
    introspects: bool,
}

impl Measure {
    /// Measures `document`. Each fragment is measured once and its counts
    /// reused wherever it is spread (saturating), so a document built to
    /// explode under expansion costs no more to measure than its size.
    fn of(document: &ExecutableDocument) -> Self {
        let mut counter = Counter {
            document,
            aliases: HashMap::new(),
            roots: HashMap::new(),
            active: Vec::new(),
        };
        let mut measure = Measure::default();
        for (_, operation) in document.operations.iter() {
            let set = &operation.node.selection_set.node;
            let (roots, introspects) = counter.roots(set);
            measure.root_fields = measure.root_fields.max(roots);
            measure.introspects |= introspects;
            measure.aliases = measure.aliases.saturating_add(counter.aliases(set));
        }
        measure
    }
}

/// Counts over a document, memoised per fragment.
struct Counter<'a> {
    document: &'a ExecutableDocument,
    aliases: HashMap<&'a str, usize>,
    roots: HashMap<&'a str, (usize, bool)>,
    /// Fragments being expanded (a cycle counts as nothing; validation
    /// reports it).
    active: Vec<&'a str>,
}

impl<'a> Counter<'a> {
    /// The fragment a spread names, unless it is unknown or already being
    /// expanded.
    fn fragment(&self, name: &'a str) -> Option<&'a SelectionSet> {
        if self.active.contains(&name) {
            return None;
        }
        let fragment = self.document.fragments.get(name)?;
        Some(&fragment.node.selection_set.node)
    }

    /// Aliased fields in `set` and below.
    fn aliases(&mut self, set: &'a SelectionSet) -> usize {
        let mut count = 0usize;
        for selection in &set.items {
            let n = match &selection.node {
                Selection::Field(field) => usize::from(field.node.alias.is_some())
                    .saturating_add(self.aliases(&field.node.selection_set.node)),
                Selection::InlineFragment(fragment) => {
                    self.aliases(&fragment.node.selection_set.node)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if let Some(&n) = self.aliases.get(name) {
                        n
                    } else if let Some(set) = self.fragment(name) {
                        self.active.push(name);
                        let n = self.aliases(set);
                        self.active.pop();
                        self.aliases.insert(name, n);
                        n
                    } else {
                        0
                    }
                }
            };
            count = count.saturating_add(n);
        }
        count
    }

    /// Fields at the level of `set` (fragments expanded; `__typename` not
    /// counted), and whether one of them is `__schema` or `__type`.
    fn roots(&mut self, set: &'a SelectionSet) -> (usize, bool) {
        let (mut count, mut introspects) = (0usize, false);
        for selection in &set.items {
            let (n, i) = match &selection.node {
                Selection::Field(field) => match field.node.name.node.as_str() {
                    "__typename" => (0, false),
                    "__schema" | "__type" => (1, true),
                    _ => (1, false),
                },
                Selection::InlineFragment(fragment) => {
                    self.roots(&fragment.node.selection_set.node)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if let Some(&found) = self.roots.get(name) {
                        found
                    } else if let Some(set) = self.fragment(name) {
                        self.active.push(name);
                        let found = self.roots(set);
                        self.active.pop();
                        self.roots.insert(name, found);
                        found
                    } else {
                        (0, false)
                    }
                }
            };
            count = count.saturating_add(n);
            introspects |= i;
        }
        (count, introspects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(query: &str) -> Measure {
        Measure::of(&async_graphql::parser::parse_query(query).expect("parses"))
    }

    #[test]
    fn aliases_are_counted_where_fragments_are_spread_and_cycles_end() {
        let m = measure(
            "query { a: user(userId: \"1\") { id } ...F ...F } fragment F on Query { b: queue(queueId: \"1\") { c: id } }",
        );
        assert_eq!(m.aliases, 5);
        assert_eq!(m.root_fields, 3);
        assert!(!m.introspects);
        let cycle = measure("query { ...A } fragment A on Query { x: __typename ...A }");
        assert_eq!(cycle.aliases, 1);
    }

    #[test]
    fn introspection_is_seen_through_fragments_and_typename_is_not_a_root_field() {
        let m = measure("{ __typename ... on Query { __schema { queryType { name } } } }");
        assert!(m.introspects);
        assert_eq!(m.root_fields, 1);
    }

    #[test]
    fn a_document_that_explodes_under_expansion_is_measured_at_once() {
        // Each level doubles what is below it: 2^60 when fully expanded.
        let mut query = String::from("query { ...F0 }");
        for i in 0..60 {
            query += &format!(" fragment F{i} on Query {{ ...F{} ...F{} }}", i + 1, i + 1);
        }
        query += " fragment F60 on Query { a: __typename b: user(userId: \"1\") { id } }";
        let document = async_graphql::parser::parse_query(&query).expect("parses");
        let started = std::time::Instant::now();
        let m = Measure::of(&document);
        assert_eq!(m.aliases, 1 << 61);
        assert_eq!(m.root_fields, 1 << 60);
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
    }
}

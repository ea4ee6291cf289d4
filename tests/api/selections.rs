//! Random valid selections over the whole schema (`schema.graphql`), sent
//! to a real gateway: every field of every type is reachable, with
//! arguments the simulator's data answers (its conversations, sessions,
//! users, queues and node ids) or plausible ones it does not. Every answer
//! must be a 200 whose errors each carry a stable code other than
//! `INTERNAL`, or a clear refusal of the document; never a 5xx. The same
//! generator is the input of the compiled path's differential test (issue
//! 15). `SELECTION_CASES` sets how many (default 300); a failure prints the
//! seed and the query.

use std::collections::HashMap;

use async_graphql::parser::types::{
    BaseType, InputValueDefinition, Type, TypeKind, TypeSystemDefinition,
};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom as _;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{json, Value};

use crate::helpers::{spawn_with, Options};

/// The deepest selection generated below the root.
const MAX_DEPTH: usize = 5;

/// The schema's types, by name.
pub struct Schema {
    types: HashMap<String, TypeKind>,
    /// Each interface's implementing object types.
    implementers: HashMap<String, Vec<String>>,
}

impl Schema {
    /// Every `Type.field` of its object types.
    pub fn fields(&self) -> Vec<String> {
        self.types
            .iter()
            .filter_map(|(name, kind)| match kind {
                TypeKind::Object(object) => Some((name, object)),
                _ => None,
            })
            .flat_map(|(name, object)| {
                object
                    .fields
                    .iter()
                    .map(move |f| format!("{name}.{}", f.node.name.node))
            })
            .filter(|f| !f.starts_with("Mutation.") && !f.starts_with("Subscription."))
            .collect()
    }

    /// The checked-in SDL, parsed.
    pub fn load() -> Self {
        let sdl = include_str!("../../schema.graphql");
        let document = async_graphql::parser::parse_schema(sdl).expect("schema.graphql parses");
        let mut types = HashMap::new();
        let mut implementers: HashMap<String, Vec<String>> = HashMap::new();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let ty = ty.node;
            if let TypeKind::Object(object) = &ty.kind {
                for interface in &object.implements {
                    implementers
                        .entry(interface.node.to_string())
                        .or_default()
                        .push(ty.name.node.to_string());
                }
            }
            types.insert(ty.name.node.to_string(), ty.kind);
        }
        Self {
            types,
            implementers,
        }
    }
}

/// Ids the simulator's data answers, for arguments.
#[derive(Default)]
pub struct Known {
    pub conversations: Vec<String>,
    pub sessions: Vec<String>,
    pub users: Vec<String>,
    pub queues: Vec<String>,
    pub nodes: Vec<String>,
}

/// Draws random valid queries.
pub struct Generator<'a> {
    schema: &'a Schema,
    known: &'a Known,
    rng: StdRng,
    /// Every `Type.field` drawn so far.
    pub drawn: std::collections::HashSet<String>,
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

impl<'a> Generator<'a> {
    pub fn new(schema: &'a Schema, known: &'a Known, seed: u64) -> Self {
        Self {
            schema,
            known,
            rng: StdRng::seed_from_u64(seed),
            drawn: std::collections::HashSet::new(),
        }
    }

    /// One query: one to three root fields.
    pub fn query(&mut self) -> String {
        let selection = self.object_selection("Query", 0, 1..=3);
        format!("query Drawn {selection}")
    }

    /// A selection set of object type `name`: `fields` of its fields at
    /// random, each with a selection of its own.
    fn object_selection(
        &mut self,
        name: &str,
        depth: usize,
        fields: std::ops::RangeInclusive<usize>,
    ) -> String {
        let defined = match &self.schema.types[name] {
            TypeKind::Object(object) => object.fields.clone(),
            TypeKind::Interface(interface) => interface.fields.clone(),
            _ => unreachable!("{name} has fields"),
        };
        let want = self.rng.random_range(fields).min(defined.len());
        let chosen: Vec<_> = defined
            .choose_multiple(&mut self.rng, want)
            .cloned()
            .collect();
        let mut parts = Vec::new();
        for (i, field) in chosen.iter().enumerate() {
            let field = &field.node;
            let Some(arguments) = self.arguments(&field.arguments) else {
                continue;
            };
            let ty = named(&field.ty.node).to_owned();
            // Built-in scalars are not in the SDL.
            let sub = match self.schema.types.get(&ty).unwrap_or(&TypeKind::Scalar) {
                TypeKind::Scalar | TypeKind::Enum(_) => String::new(),
                _ if depth >= MAX_DEPTH => continue,
                _ => format!(" {}", self.selection(&ty, depth + 1)),
            };
            self.drawn.insert(format!("{name}.{}", field.name.node));
            // Now and then under an alias (the fields drawn are distinct).
            let alias = if self.rng.random_bool(0.1) {
                format!("a{i}: ")
            } else {
                String::new()
            };
            parts.push(format!("{alias}{}{arguments}{sub}", field.name.node));
        }
        if parts.is_empty() {
            parts.push("__typename".to_owned());
        }
        format!("{{ {} }}", parts.join(" "))
    }

    /// A selection set of any composite type: interfaces and unions get
    /// `__typename` and an inline fragment on one of their types.
    fn selection(&mut self, name: &str, depth: usize) -> String {
        let members: Vec<String> = match &self.schema.types[name] {
            TypeKind::Object(_) => return self.object_selection(name, depth, 1..=4),
            TypeKind::Interface(_) => self.schema.implementers[name].clone(),
            TypeKind::Union(union) => union.members.iter().map(|m| m.node.to_string()).collect(),
            _ => unreachable!("{name} is composite"),
        };
        let member = members.choose(&mut self.rng).expect("members").clone();
        let fragment = self.object_selection(&member, depth, 1..=3);
        format!("{{ __typename ... on {member} {fragment} }}")
    }

    /// The arguments of a field: every required one, and now and then an
    /// optional one; none when a required one cannot be made.
    fn arguments(
        &mut self,
        arguments: &[async_graphql::Positioned<InputValueDefinition>],
    ) -> Option<String> {
        let mut given = Vec::new();
        for argument in arguments {
            let argument = &argument.node;
            let required = !argument.ty.node.nullable && argument.default_value.is_none();
            if !required && !self.rng.random_bool(0.25) {
                continue;
            }
            match self.value(argument.name.node.as_str(), &argument.ty.node) {
                Some(value) => given.push(format!("{}: {value}", argument.name.node)),
                None if required => return None,
                None => {}
            }
        }
        Some(if given.is_empty() {
            String::new()
        } else {
            format!("({})", given.join(", "))
        })
    }

    /// A value of type `ty` for an argument or input field called `name`.
    fn value(&mut self, name: &str, ty: &Type) -> Option<String> {
        if let BaseType::List(inner) = &ty.base {
            let item = self.value(name, inner)?;
            return Some(format!("[{item}]"));
        }
        let known = |ids: &Vec<String>, rng: &mut StdRng| -> Option<String> {
            if rng.random_bool(0.15) {
                return Some(json!("no-such-id").to_string());
            }
            ids.choose(rng).map(|id| json!(id).to_string())
        };
        let ty_name = named(ty).to_owned();
        match ty_name.as_str() {
            "Int" => Some(self.rng.random_range(1..=5).to_string()),
            "Float" => Some("1.5".to_owned()),
            "Boolean" => Some(self.rng.random_bool(0.5).to_string()),
            "ID" => known(&self.known.nodes, &mut self.rng),
            "DateTime" => {
                let back = if matches!(name, "start" | "startedAfter") {
                    24
                } else {
                    0
                };
                let at = chrono::Utc::now() - chrono::Duration::hours(back);
                Some(json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).to_string())
            }
            "String" => match name {
                "conversationId" => known(&self.known.conversations, &mut self.rng),
                "cobrowseSessionId" => known(&self.known.sessions, &mut self.rng),
                "userId" | "userIds" => known(&self.known.users, &mut self.rng),
                "queueId" | "queueIds" => known(&self.known.queues, &mut self.rng),
                "granularity" => Some(json!("PT1H").to_string()),
                // Cursors come from answers, not from here.
                "after" | "before" => None,
                _ => Some(json!("drawn").to_string()),
            },
            _ => match self.schema.types.get(&ty_name)? {
                TypeKind::Enum(values) => values
                    .values
                    .choose(&mut self.rng)
                    .map(|v| v.node.value.node.to_string()),
                TypeKind::InputObject(input) => {
                    let fields = input.fields.clone();
                    let mut given = Vec::new();
                    for field in &fields {
                        let field = &field.node;
                        let required = !field.ty.node.nullable && field.default_value.is_none();
                        if !required && !self.rng.random_bool(0.3) {
                            continue;
                        }
                        let value = self.value(field.name.node.as_str(), &field.ty.node)?;
                        given.push(format!("{}: {value}", field.name.node));
                    }
                    Some(format!("{{{}}}", given.join(", ")))
                }
                _ => None,
            },
        }
    }
}

fn cases() -> usize {
    std::env::var("SELECTION_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(400)
}

/// What the simulator's data holds, read through the gateway.
pub async fn known(app: &crate::helpers::TestApp) -> Known {
    let data = app
        .data(
            "{ activeCobrowseConversations { nodes { id conversationId participants { id cobrowseSessionId user { id userId } queue { id queueId } } } } }",
            json!({}),
        )
        .await;
    let mut known = Known::default();
    let strings = |v: &Value| v.as_str().map(str::to_owned);
    for node in data["activeCobrowseConversations"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
    {
        known.conversations.extend(strings(&node["conversationId"]));
        known.nodes.extend(strings(&node["id"]));
        for p in node["participants"].as_array().into_iter().flatten() {
            known.nodes.extend(strings(&p["id"]));
            known.sessions.extend(strings(&p["cobrowseSessionId"]));
            known.users.extend(strings(&p["user"]["userId"]));
            known.nodes.extend(strings(&p["user"]["id"]));
            known.queues.extend(strings(&p["queue"]["queueId"]));
            known.nodes.extend(strings(&p["queue"]["id"]));
        }
    }
    for ids in [
        &mut known.conversations,
        &mut known.sessions,
        &mut known.users,
        &mut known.queues,
        &mut known.nodes,
    ] {
        ids.sort();
        ids.dedup();
    }
    known
}

/// Codes an answer to a valid document may carry: refusals of its size or
/// cost, and what upstream or the data say of what it asked.
fn clear(code: &str) -> bool {
    code != "INTERNAL" && !code.is_empty()
}

#[tokio::test]
async fn random_valid_selections_over_the_whole_schema_answer_data_or_coded_errors() {
    let app = spawn_with(Options {
        settings: vec![("limits.requests_per_second", "0".to_owned())],
        ..Options::default()
    })
    .await;
    let schema = Schema::load();
    let known = known(&app).await;
    assert!(!known.conversations.is_empty() && !known.users.is_empty());
    let seed = rand::random::<u64>();
    let mut generator = Generator::new(&schema, &known, seed);
    let (mut executed, mut refused) = (0, 0);
    let mut codes: std::collections::BTreeMap<String, usize> = Default::default();
    for case in 0..cases() {
        let query = generator.query();
        let response = app.post_graphql(&json!({ "query": query })).await;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("seed {seed}, case {case}: not JSON ({e}): {query}"));
        assert!(
            status.is_success() || status == reqwest::StatusCode::BAD_REQUEST,
            "seed {seed}, case {case}: HTTP {status}: {body}\n{query}"
        );
        for error in body["errors"].as_array().into_iter().flatten() {
            let code = error["extensions"]["code"].as_str().unwrap_or("");
            assert!(
                clear(code),
                "seed {seed}, case {case}: error without a stable code, or INTERNAL: {error}\n{query}"
            );
            *codes.entry(code.to_owned()).or_default() += 1;
        }
        if body["data"].is_object() {
            executed += 1;
        } else {
            refused += 1;
        }
    }
    let fields = schema.fields();
    let unreached: Vec<&String> = fields
        .iter()
        .filter(|f| !generator.drawn.contains(*f))
        .collect();
    println!(
        "seed {seed}: {executed} executed, {refused} refused as documents; errors by code {codes:?}; {} of {} fields drawn",
        fields.len() - unreached.len(),
        fields.len()
    );
    // Every field of every type is drawn now and then (the deepest ones
    // need several hundred cases).
    assert!(
        unreached.len() * 10 <= fields.len(),
        "seed {seed}: more than a tenth of the fields never drawn: {unreached:?}"
    );
    assert!(
        executed * 2 > executed + refused,
        "seed {seed}: most drawn queries must run ({executed} ran, {refused} refused)"
    );
}

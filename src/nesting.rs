//! How deeply brackets nest in text from outside, measured before anything
//! recursive reads it.
//!
//! The GraphQL parser and the JSON reader both recurse once per nested list,
//! object or selection set. A few kilobytes of `[[[[…` are enough to overflow
//! a thread's stack, which aborts the whole process. These scans read the
//! text once, in a loop with a counter (no recursion, no allocation), so a
//! document or a body can be refused by its nesting before a recursive
//! reader ever sees it.

/// The deepest nesting of `{`, `[` and `(` in GraphQL text, outside strings,
/// block strings and comments. Unbalanced text is measured as far as it
/// goes; the parser reports what is wrong with it.
pub(crate) fn graphql(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    // `\"""` is an escaped triple quote inside a block string.
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => i = skip_string(bytes, i + 1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// The deepest nesting of `{` and `[` in JSON text, outside strings.
pub(crate) fn json(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => i = skip_string(bytes, i + 1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// The deepest nesting of arrays and objects in a JSON value (a scalar is 0),
/// without recursion.
pub(crate) fn value(value: &serde_json::Value) -> usize {
    let mut deepest = 0;
    let mut pending: Vec<(&serde_json::Value, usize)> = vec![(value, 0)];
    while let Some((value, depth)) = pending.pop() {
        match value {
            serde_json::Value::Array(items) => {
                deepest = deepest.max(depth + 1);
                pending.extend(items.iter().map(|v| (v, depth + 1)));
            }
            serde_json::Value::Object(map) => {
                deepest = deepest.max(depth + 1);
                pending.extend(map.values().map(|v| (v, depth + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// The index of the closing quote of a string whose body starts at `i` (or
/// the end of the text when it is not closed).
fn skip_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn brackets_in_strings_block_strings_and_comments_do_not_count() {
        assert_eq!(graphql("{ a }"), 1);
        assert_eq!(graphql("{ a(x: [[1]]) { b } }"), 4);
        assert_eq!(graphql(r#"{ a(x: "[[[{{{\"(((") }"#), 2);
        assert_eq!(graphql("{ a(x: \"\"\"[[[ \\\"\"\" [[[ \"\"\") }"), 2);
        assert_eq!(graphql("# [[[[[[\n{ a }"), 1);
        assert_eq!(graphql("{ a(x: \"unterminated [[[["), 2);
        assert_eq!(
            json(br#"{"query": "{ a { b } }", "variables": {"x": [[1]]}}"#),
            4
        );
        assert_eq!(json(br#"["\"[[[", {"k\\": "{"}]"#), 2);
        assert_eq!(value(&serde_json::json!({"a": [1, {"b": [[]]}]})), 5);
        assert_eq!(value(&serde_json::json!(3)), 0);
    }

    #[test]
    fn a_deep_document_is_measured_in_a_loop() {
        let deep = format!(
            "{{ user(userId: {}\"x\"{}) {{ id }} }}",
            "[".repeat(200_000),
            "]".repeat(200_000)
        );
        assert_eq!(graphql(&deep), 200_002);
        let body = format!(
            "{{\"variables\": {{\"x\": {}{}}}}}",
            "[".repeat(200_000),
            "]".repeat(200_000)
        );
        assert_eq!(json(body.as_bytes()), 200_002);
    }

    proptest! {
        /// The scan agrees with the JSON reader on whatever it can read.
        #[test]
        fn json_nesting_is_the_nesting_serde_sees(value in crate::nesting::tests::arbitrary_json()) {
            let text = serde_json::to_vec(&value).expect("serializes");
            prop_assert_eq!(json(&text), super::value(&value));
        }
    }

    pub(crate) fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i32>().prop_map(serde_json::Value::from),
            "[\\[\\]{}\"\\\\a-z ]{0,12}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(6, 48, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::btree_map("[\\[{\"a-z]{1,6}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}

//! What a GraphQL request asks for: its parameters (from a POST body or a
//! GET query string), the response media type it accepts, and its content
//! type. Each reader refuses bad input with a [`Refusal`].

use axum::http::{header, HeaderMap, StatusCode};
use serde_json::{Map, Value};

use super::refusal::{MediaType, Refusal};
use crate::graph::limits;

/// The parameters of one GraphQL request.
#[derive(Default, Debug)]
pub(super) struct Params {
    pub(super) query: Option<String>,
    pub(super) operation_name: Option<String>,
    pub(super) variables: Option<Map<String, Value>>,
    pub(super) extensions: Option<Map<String, Value>>,
}

impl Params {
    /// Reads a POST body. `max_nesting` bounds the variables and extensions
    /// (the body object and `variables` itself add two levels); it is
    /// measured before the JSON reader, which recurses, sees the body.
    pub(super) fn from_json(body: &[u8], max_nesting: usize) -> Result<Self, Refusal> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(Refusal::bad_request(
                "the request body is empty; send a JSON object with `query`",
            ));
        }
        let nesting = crate::nesting::json(body);
        if nesting > max_nesting + 2 {
            return Err(too_nested("the request body", nesting, max_nesting + 2));
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            Refusal::bad_request(format!("the request body is not valid JSON: {e}"))
        })?;
        let mut object = match value {
            Value::Object(object) => object,
            Value::Array(_) => {
                return Err(Refusal::bad_request(
                    "batched requests are not accepted: send one operation per request",
                ))
            }
            _ => {
                return Err(Refusal::bad_request(
                    "the request body must be a JSON object",
                ))
            }
        };
        Ok(Self {
            query: string_param(object.remove("query"), "query")?,
            operation_name: string_param(object.remove("operationName"), "operationName")?,
            variables: map_param(object.remove("variables"), "variables")?,
            extensions: map_param(object.remove("extensions"), "extensions")?,
        })
    }

    pub(super) fn from_query_string(raw: &str, max_nesting: usize) -> Result<Self, Refusal> {
        let mut params = Self::default();
        let mut seen = Vec::new();
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            if matches!(
                key.as_ref(),
                "query" | "operationName" | "variables" | "extensions"
            ) {
                if seen.contains(&key) {
                    return Err(Refusal::bad_request(format!(
                        "`{key}` is given more than once"
                    )));
                }
                seen.push(key.clone());
            }
            let json = |name: &str| -> Result<Option<Map<String, Value>>, Refusal> {
                if value.is_empty() {
                    return Ok(None);
                }
                let nesting = crate::nesting::json(value.as_bytes());
                if nesting > max_nesting + 1 {
                    return Err(too_nested(name, nesting, max_nesting + 1));
                }
                let parsed: Value = serde_json::from_str(&value).map_err(|e| {
                    Refusal::bad_request(format!("`{name}` is not valid JSON: {e}"))
                })?;
                map_param(Some(parsed), name)
            };
            match key.as_ref() {
                "query" => params.query = Some(value.into_owned()),
                "operationName" if !value.is_empty() => {
                    params.operation_name = Some(value.into_owned())
                }
                "variables" => params.variables = json("variables")?,
                "extensions" => params.extensions = json("extensions")?,
                _ => {}
            }
        }
        Ok(params)
    }
}

/// A body or parameter whose JSON nests deeper than the gateway reads.
fn too_nested(what: &str, nesting: usize, limit: usize) -> Refusal {
    Refusal::new(
        StatusCode::BAD_REQUEST,
        limits::code::NESTING_TOO_DEEP,
        format!(
            "{what} nests arrays and objects {nesting} levels deep, above the limit of {limit}"
        ),
    )
    .measured(nesting, limit)
}

fn string_param(value: Option<Value>, name: &str) -> Result<Option<String>, Refusal> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Refusal::bad_request(format!("`{name}` must be a string"))),
    }
}

fn map_param(value: Option<Value>, name: &str) -> Result<Option<Map<String, Value>>, Refusal> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(Refusal::bad_request(format!("`{name}` must be an object"))),
    }
}

/// Picks the response media type from `Accept`.
pub(super) fn negotiate(headers: &HeaderMap) -> Result<MediaType, Refusal> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(MediaType::Json);
    };
    let accept = accept.to_str().unwrap_or_default();
    let mut best: Option<(f32, MediaType)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let media = match essence.as_str() {
            "application/graphql-response+json" => MediaType::GraphqlResponseJson,
            "application/json" | "application/*" | "*/*" => MediaType::Json,
            _ => continue,
        };
        if q <= 0.0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((best_q, best_media)) => {
                q > best_q
                    || (q == best_q
                        && media == MediaType::GraphqlResponseJson
                        && best_media == MediaType::Json)
            }
        };
        if better {
            best = Some((q, media));
        }
    }
    match best {
        Some((_, media)) => Ok(media),
        None if accept.trim().is_empty() => Ok(MediaType::Json),
        None => Err(Refusal::new(
            StatusCode::NOT_ACCEPTABLE,
            "NOT_ACCEPTABLE",
            "Accept must allow application/graphql-response+json or application/json",
        )),
    }
}

pub(super) fn check_content_type(headers: &HeaderMap) -> Result<(), Refusal> {
    let unsupported = |why: String| {
        Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            why,
        )
    };
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(unsupported("Content-Type must be application/json".into()));
    };
    let mime: mime::Mime = value
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| unsupported("Content-Type is not a media type".into()))?;
    if mime.essence_str() != "application/json" {
        return Err(unsupported(format!(
            "Content-Type {} is not supported; use application/json",
            mime.essence_str()
        )));
    }
    if let Some(charset) = mime.get_param(mime::CHARSET) {
        if !charset.as_str().eq_ignore_ascii_case("utf-8") {
            return Err(unsupported(format!(
                "charset {charset} is not supported; use utf-8"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_nested_past_the_limit_is_refused_before_the_json_reader_sees_it() {
        let deep = format!(
            "{{\"query\":\"{{a}}\",\"variables\":{{\"v\":{}{}}}}}",
            "[".repeat(100),
            "]".repeat(100)
        );
        let refusal = Params::from_json(deep.as_bytes(), 64).expect_err("too deep");
        assert_eq!(refusal.code(), limits::code::NESTING_TOO_DEEP);
        let fine =
            Params::from_json(br#"{"query":"{a}","variables":{"v":[[1]]}}"#, 64).expect("read");
        assert_eq!(fine.query.as_deref(), Some("{a}"));
    }

    #[test]
    fn a_batch_and_a_repeated_parameter_are_refused() {
        assert!(Params::from_json(b"[{}]", 64).is_err());
        assert!(Params::from_query_string("query=%7Ba%7D&query=%7Bb%7D", 64).is_err());
    }

    #[test]
    fn accept_picks_the_graphql_media_type_when_it_is_as_good() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            "application/json, application/graphql-response+json"
                .parse()
                .unwrap(),
        );
        assert_eq!(negotiate(&headers).unwrap(), MediaType::GraphqlResponseJson);
        headers.insert(header::ACCEPT, "text/html".parse().unwrap());
        assert_eq!(negotiate(&headers).unwrap_err().code(), "NOT_ACCEPTABLE");
    }
}

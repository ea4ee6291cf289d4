//! Every error a client sees has a stable `extensions.code`.
//!
//! Upstream errors carry their code, correlation id and retry hint through
//! [`GqlResult::gql`]. The [`ErrorCodes`] extension gives the errors that
//! async-graphql raises itself (parse, validation, limits, coercion) a code
//! too, so a client never has to match on message text, and completes
//! partial results as the specification says ([`super::partial`]).

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
    NextResolve, NextValidation, ResolveInfo,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    ErrorExtensions, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
};

use super::partial::Completion;

use crate::store::StoreError;
use crate::upstream::UpstreamError;

/// Codes of errors raised by the graph itself.
pub(crate) mod code {
    pub(crate) const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub(crate) const NOT_FOUND: &str = "NOT_FOUND";
    pub(crate) const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    pub(crate) const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
    pub(crate) const INTERNAL: &str = "INTERNAL_SERVER_ERROR";
    pub(crate) const STORE_UNAVAILABLE: &str = "STORE_UNAVAILABLE";
    pub(crate) const UPSTREAM_LIST_TRUNCATED: &str = "UPSTREAM_LIST_TRUNCATED";
    pub(crate) const HISTORY_PREPARING: &str = "HISTORY_PREPARING";
}

/// Reports at the current field's path that upstream's listing was cut at
/// the page limit: the field answers what was read, and says so.
pub(crate) fn listing_cut(ctx: &async_graphql::Context<'_>) {
    let error = coded(
        code::UPSTREAM_LIST_TRUNCATED,
        format!(
            "upstream's listing has more than {} pages: only what its first pages list is here",
            crate::upstream::MAX_PAGES
        ),
    );
    ctx.add_error(ctx.set_error_path(error.into_server_error(ctx.item.pos)));
}

/// An error with a code and a message for the client.
pub(crate) fn coded(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}

/// A `BAD_USER_INPUT` error.
pub(crate) fn bad_input(message: impl Into<String>) -> async_graphql::Error {
    coded(code::BAD_USER_INPUT, message)
}

/// The GraphQL form of an upstream error.
pub(crate) fn upstream(error: &UpstreamError) -> async_graphql::Error {
    async_graphql::Error::new(error.to_string()).extend_with(|_, e| {
        e.set("code", error.code());
        if let Some(id) = error.correlation_id() {
            e.set("correlationId", id);
        }
        if let Some(wait) = error.retry_after() {
            e.set("retryAfterSeconds", wait.as_secs());
        }
    })
}

/// The GraphQL form of an upstream error met by `feature` (a field, such
/// as `cobrowseStatistics`): a missing permission names both, so that an
/// operator knows what to grant for what.
pub(crate) fn upstream_for(feature: &str, error: &UpstreamError) -> async_graphql::Error {
    let UpstreamError::Forbidden {
        permission: Some(permission),
        ..
    } = error
    else {
        return upstream(error);
    };
    let message = format!(
        "{feature} is unavailable: the gateway's upstream OAuth client lacks the permission {permission}"
    );
    let (permission, feature) = (permission.clone(), feature.to_owned());
    async_graphql::Error::new(message).extend_with(move |_, e| {
        e.set("code", error.code());
        e.set("permission", permission.as_str());
        e.set("feature", feature.as_str());
        if let Some(id) = error.correlation_id() {
            e.set("correlationId", id);
        }
    })
}

/// Whether `error` says that what was asked for does not exist.
pub(crate) fn is_not_found(error: &async_graphql::Error) -> bool {
    let code = error.extensions.as_ref().and_then(|e| e.get("code"));
    matches!(code, Some(async_graphql::Value::String(c)) if c == "UPSTREAM_NOT_FOUND" || c == code::NOT_FOUND)
}

/// Converts upstream and store results into GraphQL results with codes. Use
/// it instead of `?` on such an error, which would lose the code.
pub(crate) trait GqlResult<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GqlResult<T> for Result<T, UpstreamError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| upstream(&e))
    }
}

impl<T> GqlResult<T> for Result<T, Arc<UpstreamError>> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| upstream(&e))
    }
}

impl<T> GqlResult<T> for Result<T, StoreError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| coded(code::STORE_UNAVAILABLE, e.to_string()))
    }
}

/// Gives every error of a response a code, and puts field errors where
/// the specification says.
pub(crate) struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension::default())
    }
}

#[derive(Default)]
struct ErrorCodesExtension {
    completion: Completion,
}

fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some());
    if !has_code {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
    error
}

#[async_graphql::async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        response.errors = std::mem::take(&mut response.errors)
            .into_iter()
            .map(|error| {
                let code = if error.message.starts_with("Invalid value for argument")
                    || error.message.starts_with("Failed to parse")
                    || error.message.starts_with("Variable")
                {
                    code::BAD_USER_INPUT
                } else if error.path.is_empty() {
                    code::VALIDATION_FAILED
                } else {
                    code::INTERNAL
                };
                with_code(error, code)
            })
            .collect();
        response
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        self.completion.finish(&mut response);
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let (path, return_type) = (info.path_node, info.return_type);
        let result = next.run(ctx, info).await;
        self.completion.settle(path, return_type, result)
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|e| with_code(e, code::PARSE_FAILED))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        // Limit refusals (`super::limits`) carry their own codes already.
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| with_code(e, code::VALIDATION_FAILED))
                .collect()
        })
    }
}

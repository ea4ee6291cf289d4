//! The field guard: a root field names the permission it needs.

use async_graphql::{Context, Guard};

use super::errors::coded;
use crate::auth::{Caller, Permissions};

/// A field guard: the caller must hold `0`.
pub(crate) struct Needs(pub Permissions);

impl Needs {
    pub(crate) const READ: Self = Self(Permissions::READ);
    pub(crate) const WRITE: Self = Self(Permissions::WRITE);
    pub(crate) const WEBHOOKS_ADMIN: Self = Self(Permissions::WEBHOOKS_ADMIN);
}

impl Guard for Needs {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let held = ctx
            .data_opt::<Caller>()
            .map_or(Permissions::none(), |c| c.permissions);
        if held.contains(self.0) {
            return Ok(());
        }
        Err(coded(
            "FORBIDDEN",
            format!(
                "this field needs the `{}` scope; the caller has: {held}",
                self.0
            ),
        ))
    }
}

//! The client's directory routes: who the token is, users and queues by id
//! or every page, and the wrap-up codes.

use serde::de::DeserializeOwned;

use super::model::*;
use super::paging::Paged;
use super::{Credential, Fetched, PureCloud, Route, UpstreamError};

/// An entity the bulk endpoints return by id (users, queues).
pub(crate) trait Entity: DeserializeOwned + Send + 'static {
    /// The collection's path under `/api/v2`.
    const PATH: &'static [&'static str];
    /// The route of the bulk call, for logs and metrics.
    const BULK_ROUTE: Route;
    /// Query parameters every bulk call carries.
    const BULK_QUERY: &'static [(&'static str, &'static str)] = &[];
    /// The entity's id.
    fn id(&self) -> Option<&str>;
}

impl Entity for User {
    const PATH: &'static [&'static str] = &["users"];
    const BULK_ROUTE: Route = Route::Users;
    /// The list answers only active users unless told otherwise, and agents
    /// who left keep their names in history (docs/upstream.md, "Users").
    const BULK_QUERY: &'static [(&'static str, &'static str)] = &[("state", "any")];
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

impl Entity for Queue {
    const PATH: &'static [&'static str] = &["routing", "queues"];
    const BULK_ROUTE: Route = Route::Queues;
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

impl PureCloud {
    /// `GET /api/v2/tokens/me`: what upstream knows of a token. The gateway
    /// calls it to prove a passed-through caller token before serving
    /// anything to its holder.
    pub(crate) async fn token_info(
        &self,
        cred: &Credential,
    ) -> Result<Fetched<TokenInfo>, UpstreamError> {
        self.get_json(cred, Route::TokenInfo, self.url(&["tokens", "me"])?)
            .await
    }

    /// `GET /api/v2/users?id=..&id=..` or `GET /api/v2/routing/queues?id=..`:
    /// at most [`BULK_PAGE_SIZE`] ids of one kind of entity.
    pub(crate) async fn entities<T: Entity>(
        &self,
        cred: &Credential,
        ids: &[&str],
    ) -> Result<Fetched<Vec<T>>, UpstreamError> {
        let url = self.bulk_url(T::PATH, ids, T::BULK_QUERY)?;
        self.get_json::<Listing<T>>(cred, T::BULK_ROUTE, url)
            .await
            .map(|f| Fetched {
                value: f.value.entities,
                bytes: f.bytes,
            })
    }

    /// `GET /api/v2/routing/wrapupcodes`, every page.
    pub(crate) async fn wrapup_codes(
        &self,
        cred: &Credential,
    ) -> Result<Fetched<Paged<WrapupCode>>, UpstreamError> {
        let mut first = self.url(&["routing", "wrapupcodes"])?;
        first
            .query_pairs_mut()
            .append_pair("pageSize", "100")
            .append_pair("pageNumber", "1");
        self.all_pages(cred, Route::WrapupCodes, first).await
    }

    /// `GET /api/v2/routing/queues`, every page: every queue of the
    /// organisation.
    pub(crate) async fn all_queues(
        &self,
        cred: &Credential,
    ) -> Result<Fetched<Paged<Queue>>, UpstreamError> {
        let mut first = self.url(&["routing", "queues"])?;
        first
            .query_pairs_mut()
            .append_pair("pageSize", "100")
            .append_pair("pageNumber", "1");
        self.all_pages(cred, Route::Queues, first).await
    }

    /// `GET /api/v2/users?state=active`, every page: the organisation's
    /// active users (whose message topics the listener subscribes).
    pub(crate) async fn all_users(
        &self,
        cred: &Credential,
    ) -> Result<Fetched<Paged<User>>, UpstreamError> {
        let mut first = self.url(&["users"])?;
        first
            .query_pairs_mut()
            .append_pair("pageSize", "100")
            .append_pair("pageNumber", "1")
            .append_pair("state", "active");
        self.all_pages(cred, Route::Users, first).await
    }
}

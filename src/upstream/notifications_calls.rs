//! The client's Notifications API routes (docs/upstream.md, "Notifications"):
//! creating a channel, the topics it may subscribe, whether a channel still
//! exists, and subscribing.

use reqwest::Method;

use super::{decode, notifications, Credential, Fetched, PureCloud, Route, UpstreamError};

impl PureCloud {
    /// `POST /api/v2/notifications/channels`: a new channel.
    pub(crate) async fn create_channel(
        &self,
        cred: &Credential,
    ) -> Result<Fetched<notifications::Channel>, UpstreamError> {
        let url = self.url(&["notifications", "channels"])?;
        let (body, correlation) = self
            .send::<()>(cred, Route::NotificationChannels, Method::POST, url, None)
            .await?;
        decode(Route::NotificationChannels, body, correlation)
    }

    /// `GET /api/v2/notifications/availabletopics` with what each topic
    /// requires (`expand=requiresPermissions,permissionDetails,enforced,visibility`).
    pub(crate) async fn available_topics(
        &self,
        cred: &Credential,
    ) -> Result<Fetched<notifications::AvailableTopics>, UpstreamError> {
        let mut url = self.url(&["notifications", "availabletopics"])?;
        url.query_pairs_mut().append_pair(
            "expand",
            "requiresPermissions,permissionDetails,enforced,visibility",
        );
        self.get_json(cred, Route::AvailableTopics, url).await
    }

    /// `HEAD /api/v2/notifications/channels/{id}`: whether the channel is
    /// still valid.
    pub(crate) async fn channel_exists(
        &self,
        cred: &Credential,
        id: &str,
    ) -> Result<bool, UpstreamError> {
        let url = self.url(&["notifications", "channels", id])?;
        match self
            .send::<()>(cred, Route::NotificationChannel, Method::HEAD, url, None)
            .await
        {
            Ok(_) => Ok(true),
            Err(UpstreamError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `PUT /api/v2/notifications/channels/{id}/subscriptions?ignoreErrors=true`:
    /// the channel's topics are `topics` (a rejected one does not fail the
    /// others; the answer says which were).
    pub(crate) async fn subscribe(
        &self,
        cred: &Credential,
        id: &str,
        topics: &[String],
    ) -> Result<Fetched<notifications::TopicAnswers>, UpstreamError> {
        let mut url = self.url(&["notifications", "channels", id, "subscriptions"])?;
        url.query_pairs_mut().append_pair("ignoreErrors", "true");
        let body: Vec<notifications::TopicRequest> = topics
            .iter()
            .map(|t| notifications::TopicRequest { id: t.clone() })
            .collect();
        let (body, correlation) = self
            .send(
                cred,
                Route::NotificationSubscriptions,
                Method::PUT,
                url,
                Some(&body),
            )
            .await?;
        decode(Route::NotificationSubscriptions, body, correlation)
    }
}

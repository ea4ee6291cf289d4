//! The client's analytics routes (docs/upstream.md, "Analytics"): the
//! details query (one page, or every page), the multi-get by id, the
//! asynchronous details jobs, and the aggregates query.

use super::analytics::*;
use super::{Credential, Fetched, PureCloud, Route, UpstreamError, BULK_PAGE_SIZE};

/// How many pages of an analytics details query the client follows at most.
const MAX_ANALYTICS_PAGES: u32 = 100;

impl PureCloud {
    /// `POST /api/v2/analytics/conversations/details/query`, every page:
    /// the records of every page, each conversation once (analytics may
    /// repeat a record across pages; the first is kept). Pages are followed
    /// until one comes back short or adds nothing new; `totalHits` is
    /// approximate and not relied on.
    pub(crate) async fn details_all_pages(
        &self,
        cred: &Credential,
        query: &DetailsQuery,
    ) -> Result<Fetched<Vec<AnalyticsConversation>>, UpstreamError> {
        let mut query = query.clone();
        let page_size = query.paging.as_ref().map_or(25, |p| p.page_size).max(1);
        let mut seen = std::collections::HashSet::new();
        let mut records = Vec::new();
        let mut bytes = 0;
        for page_number in 1..=MAX_ANALYTICS_PAGES {
            query.paging = Some(Paging {
                page_size,
                page_number,
            });
            let page = self.details_page(cred, &query).await?;
            bytes += page.bytes;
            let count = page.value.conversations.len();
            let mut new = 0;
            for record in page.value.conversations {
                let Some(id) = record.conversation_id.clone() else {
                    continue;
                };
                if seen.insert(id) {
                    records.push(record);
                    new += 1;
                }
            }
            if records.len() > self.inner.max_list_items {
                return Err(UpstreamError::ListTooLarge {
                    route: Route::AnalyticsDetails.name(),
                    limit: self.inner.max_list_items,
                });
            }
            if count < page_size as usize || new == 0 {
                return Ok(Fetched {
                    value: records,
                    bytes,
                });
            }
        }
        Err(UpstreamError::BadResponse {
            detail: format!(
                "{}: more than {MAX_ANALYTICS_PAGES} pages of {page_size}; narrow the query",
                Route::AnalyticsDetails.name()
            ),
            correlation_id: None,
        })
    }

    /// `POST /api/v2/analytics/conversations/details/query`: one page.
    pub(crate) async fn details_page(
        &self,
        cred: &Credential,
        query: &DetailsQuery,
    ) -> Result<Fetched<DetailsResponse>, UpstreamError> {
        let url = self.url(&["analytics", "conversations", "details", "query"])?;
        self.post_json(cred, Route::AnalyticsDetails, url, query)
            .await
    }

    /// `GET /api/v2/analytics/conversations/details?id=..`: the records of
    /// specific conversations (at most [`BULK_PAGE_SIZE`] ids a call; the
    /// SDKs document no limit), as analytics has them now. Ids it has no
    /// record of are left out.
    pub(crate) async fn details_by_ids(
        &self,
        cred: &Credential,
        ids: &[&str],
    ) -> Result<Fetched<Vec<AnalyticsConversation>>, UpstreamError> {
        debug_assert!(ids.len() <= BULK_PAGE_SIZE);
        let mut url = self.url(&["analytics", "conversations", "details"])?;
        url.query_pairs_mut().append_pair("id", &ids.join(","));
        self.get_json::<MultiGetResponse>(cred, Route::AnalyticsDetailsById, url)
            .await
            .map(|f| Fetched {
                value: f.value.conversations,
                bytes: f.bytes,
            })
    }

    /// `POST /api/v2/analytics/conversations/details/jobs`: submits `query`
    /// (its `paging` left out) as an asynchronous job; its id.
    pub(crate) async fn submit_details_job(
        &self,
        cred: &Credential,
        query: &DetailsQuery,
    ) -> Result<String, UpstreamError> {
        let url = self.url(&["analytics", "conversations", "details", "jobs"])?;
        let query = DetailsQuery {
            paging: None,
            ..query.clone()
        };
        let answer: Fetched<JobSubmitted> = self
            .post_json(cred, Route::AnalyticsDetailsJobs, url, &query)
            .await?;
        answer
            .value
            .job_id
            .ok_or_else(|| UpstreamError::BadResponse {
                detail: "an analytics job was submitted without a jobId".into(),
                correlation_id: None,
            })
    }

    /// `GET /api/v2/analytics/conversations/details/jobs/{jobId}`.
    pub(crate) async fn details_job(
        &self,
        cred: &Credential,
        job: &str,
    ) -> Result<JobStatus, UpstreamError> {
        let url = self.url(&["analytics", "conversations", "details", "jobs", job])?;
        let status: Fetched<JobStatus> = self
            .get_json(cred, Route::AnalyticsDetailsJobs, url)
            .await?;
        Ok(status.value)
    }

    /// `GET /api/v2/analytics/conversations/details/jobs/{jobId}/results`:
    /// the page at `cursor` (none: the first).
    pub(crate) async fn details_job_results(
        &self,
        cred: &Credential,
        job: &str,
        cursor: Option<&str>,
        page_size: u32,
    ) -> Result<Fetched<JobResults>, UpstreamError> {
        let mut url = self.url(&[
            "analytics",
            "conversations",
            "details",
            "jobs",
            job,
            "results",
        ])?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("pageSize", &page_size.to_string());
            if let Some(cursor) = cursor {
                pairs.append_pair("cursor", cursor);
            }
        }
        self.get_json(cred, Route::AnalyticsDetailsJobs, url).await
    }

    /// `POST /api/v2/analytics/conversations/aggregates/query`.
    pub(crate) async fn aggregates(
        &self,
        cred: &Credential,
        query: &AggregatesQuery,
    ) -> Result<Fetched<AggregatesResponse>, UpstreamError> {
        let url = self.url(&["analytics", "conversations", "aggregates", "query"])?;
        self.post_json(cred, Route::AnalyticsAggregates, url, query)
            .await
    }
}

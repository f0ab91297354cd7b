//! axum extractors for what [`WhoLayer`](super::WhoLayer) found.

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;
use rewho_plugin_api::Identity;

use super::WhoApi;

/// The authenticated identity; a handler taking it answers 401 to anonymous requests, which
/// the layer then turns into the configured challenge (a login redirect, Basic auth, ...).
#[derive(Debug, Clone)]
pub struct WhoIdentity(pub Identity);

/// The authenticated identity, if any: for pages that anonymous users may see too.
#[derive(Debug, Clone)]
pub struct MaybeWhoIdentity(pub Option<Identity>);

/// Why an extractor of this module failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WhoRejection {
    /// No [`WhoApi`] in the request: the layer is not in front of this handler (500).
    MissingLayer,
    /// [`WhoIdentity`] on an anonymous request (401, so the layer challenges).
    NotAuthenticated,
}

impl std::fmt::Display for WhoRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WhoRejection::MissingLayer => {
                "Can't extract the rewho API. Is `WhoLayer` enabled in front of this handler?"
            }
            WhoRejection::NotAuthenticated => "Not authenticated.",
        })
    }
}

impl std::error::Error for WhoRejection {}

impl IntoResponse for WhoRejection {
    fn into_response(self) -> Response {
        let status = match self {
            WhoRejection::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
            WhoRejection::NotAuthenticated => StatusCode::UNAUTHORIZED,
        };
        if self == WhoRejection::MissingLayer {
            tracing::error!(target: "rewho::edge", "{self}");
        }
        (status, self.to_string()).into_response()
    }
}

#[axum::async_trait]
impl<S: Send + Sync> FromRequestParts<S> for WhoApi {
    type Rejection = WhoRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<WhoApi>()
            .cloned()
            .ok_or(WhoRejection::MissingLayer)
    }
}

#[axum::async_trait]
impl<S: Send + Sync> FromRequestParts<S> for WhoIdentity {
    type Rejection = WhoRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let api = WhoApi::from_request_parts(parts, state).await?;
        api.identity()
            .map(WhoIdentity)
            .ok_or(WhoRejection::NotAuthenticated)
    }
}

#[axum::async_trait]
impl<S: Send + Sync> FromRequestParts<S> for MaybeWhoIdentity {
    type Rejection = WhoRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let api = WhoApi::from_request_parts(parts, state).await?;
        Ok(MaybeWhoIdentity(api.identity()))
    }
}

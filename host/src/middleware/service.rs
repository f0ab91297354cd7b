use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{Either, Full};
use tower::Service;

use super::{snapshot, to_fields, Rebuild, ResponseFuture, SharedFactory, WhoApi, WhoBody};
use crate::Egress;

/// Authenticates each request with an [`ApiFactory`](crate::ApiFactory) around an inner
/// service; built by [`WhoLayer`](super::WhoLayer).
#[derive(Debug, Clone)]
pub struct WhoService<S> {
    inner: S,
    shared: SharedFactory,
}

impl<S> WhoService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, shared: SharedFactory) -> Self {
        WhoService { inner, shared }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// How a request went through the chains; put in response extensions for access logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Authenticated as this user id.
    Authenticated(String),
    /// Nobody authenticated and the application's answer stood.
    Anonymous,
    /// The application's response was replaced by a challenge.
    Challenged,
    /// An identifier answered the request itself.
    Responded,
    /// A challenge was needed and no challenger answered (500).
    NoChallenger,
    /// `POST /_rewho/login` succeeded for this user id.
    LoggedIn(String),
    /// `POST /_rewho/login` failed.
    LoginFailed,
    /// `/_rewho/logout`.
    LoggedOut,
    /// A plugin call passed `[general] call_timeout` (503).
    TimedOut,
    /// A route that reports no outcome (metrics, the demo's own pages).
    Unknown,
}

/// The peer's address, as axum's `into_make_service_with_connect_info` records it.
pub(crate) fn peer_of(ext: &http::Extensions) -> Option<SocketAddr> {
    ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

/// A plugin's response as an HTTP response.
pub(crate) fn plugin_response(r: rewho_plugin_api::Response) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(r.body.into_vec())));
    *resp.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    super::append_fields(resp.headers_mut(), r.headers.as_slice());
    resp
}

pub(crate) fn no_challenger() -> Response<Full<Bytes>> {
    tracing::error!(
        target: "rewho::edge",
        "a challenge was required but no challenger answered: check [challengers]"
    );
    let mut resp = Response::new(Full::new(Bytes::from_static(
        b"authentication is required but no challenger is configured for this request\n",
    )));
    *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    resp
}

/// The 503 answered when a plugin call timed out (the plugin is named in the log only).
pub(crate) fn timed_out() -> Response<Full<Bytes>> {
    let mut r = plugin_response(super::timeout_response());
    r.extensions_mut().insert(Outcome::TimedOut);
    r
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for WhoService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
{
    type Response = Response<WhoBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // Keep the service that was polled ready; leave a fresh clone behind (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        let loaded = shared.load();
        let (mut parts, body) = req.into_parts();
        let (request, prov) = snapshot(
            &parts,
            peer_of(&parts.extensions),
            &loaded.trusted,
            loaded.public.as_ref(),
            Rebuild::Direct,
        );
        let pin_location = loaded.public.is_none() && !prov.proxy_host;
        let api = WhoApi::new(loaded, Arc::new(request));
        let inner = async move {
            let admission = match api.ingress().await {
                Err(_timed_out) => return Ok(timed_out().map(Either::Right)),
                Ok(Ok(a)) => a,
                Ok(Err(response)) => {
                    let mut r = plugin_response(response).map(Either::Right);
                    if pin_location {
                        let req = api.request();
                        super::relative_location(r.headers_mut(), &req.scheme, &req.host);
                    }
                    r.extensions_mut().insert(Outcome::Responded);
                    return Ok(r);
                }
            };
            admission.apply(shared.guard(), &mut parts.headers);
            parts.extensions.insert(api.clone());
            let response = inner.call(Request::from_parts(parts, body)).await?;
            let (mut rparts, rbody) = response.into_parts();
            let status = rparts.status.as_u16();
            let app_headers = to_fields(&rparts.headers);
            let egress = match api
                .try_run_repeatable(move |a| a.egress(status, &app_headers))
                .await
            {
                Ok(egress) => egress,
                Err(_timed_out) => return Ok(timed_out().map(Either::Right)),
            };
            Ok(match egress {
                Egress::Challenge(c) => {
                    let mut r = plugin_response(c).map(Either::Right);
                    if pin_location {
                        let req = api.request();
                        super::relative_location(r.headers_mut(), &req.scheme, &req.host);
                    }
                    r.extensions_mut().insert(Outcome::Challenged);
                    r
                }
                Egress::NoChallenger => {
                    let mut r = no_challenger().map(Either::Right);
                    r.extensions_mut().insert(Outcome::NoChallenger);
                    r
                }
                Egress::Remember(headers) => {
                    super::append_fields(&mut rparts.headers, &headers);
                    rparts.extensions.insert(match api.userid() {
                        Some(u) => Outcome::Authenticated(u),
                        None => Outcome::Anonymous,
                    });
                    Response::from_parts(rparts, Either::Left(rbody))
                }
            })
        };
        ResponseFuture {
            inner: Box::pin(inner),
        }
    }
}

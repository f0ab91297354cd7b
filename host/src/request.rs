//! An owned request snapshot, for callers that do not hold an HTTP request type (tests, the
//! CLI, benches) and for edges that must keep the request past a borrow.

use rewho_plugin_api::state::RequestParts;
use rewho_plugin_api::{Header, Request};

/// The parts of a request plugins see, owned. [`OwnedRequest::with_view`] lends a
/// [`Request`] view of it.
#[derive(Debug, Clone, Default)]
pub struct OwnedRequest {
    /// Method (`GET`).
    pub method: String,
    /// Scheme (`http`).
    pub scheme: String,
    /// Host header value.
    pub host: String,
    /// Path.
    pub path: String,
    /// Query string without `?`.
    pub query: String,
    /// Client address without port.
    pub remote_addr: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
}

impl OwnedRequest {
    /// A `GET` of `path` on `localhost` from `127.0.0.1`.
    pub fn get(path: &str) -> Self {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        OwnedRequest {
            method: "GET".into(),
            scheme: "http".into(),
            host: "localhost".into(),
            path: path.into(),
            query: query.into(),
            remote_addr: "127.0.0.1".into(),
            headers: Vec::new(),
        }
    }

    /// Adds a header (builder style).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the method (builder style).
    pub fn method(mut self, method: &str) -> Self {
        self.method = method.into();
        self
    }

    /// Runs `f` with a borrowed view of this request.
    pub fn with_view<R>(&self, f: impl FnOnce(Request<'_>) -> R) -> R {
        lend_view(
            RequestText {
                method: &self.method,
                scheme: &self.scheme,
                host: &self.host,
                path: &self.path,
                query: &self.query,
                remote_addr: &self.remote_addr,
            },
            self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            f,
        )
    }
}

/// The text of a request's parts other than its headers, borrowed from wherever it is kept.
pub(crate) struct RequestText<'a> {
    pub(crate) method: &'a str,
    pub(crate) scheme: &'a str,
    pub(crate) host: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    pub(crate) remote_addr: &'a str,
}

/// Lends `f` the plugins' view of a request: the one place that lays out a plugin-api
/// [`Request`] from text, for owned snapshots and borrowed rebuilds alike.
pub(crate) fn lend_view<'a, R>(
    text: RequestText<'a>,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
    f: impl FnOnce(Request<'_>) -> R,
) -> R {
    let headers: Vec<Header<'_>> = headers
        .map(|(name, value)| Header::new(name, value))
        .collect();
    let parts = RequestParts {
        method: text.method,
        scheme: text.scheme,
        host: text.host,
        path: text.path,
        query: text.query,
        // ABI 1.0: peer_addr (the edge work passes the TCP peer here).
        peer_addr: text.remote_addr,
        client_addr: text.remote_addr,
        headers: &headers,
    };
    f(parts.view())
}

//! An owned request snapshot, for callers that do not hold an HTTP request type (tests, the
//! CLI, benches) and for edges that must keep the request past a borrow.

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
        let headers: Vec<Header<'_>> = self
            .headers
            .iter()
            .map(|(n, v)| Header {
                name: n.as_str().into(),
                value: v.as_str().into(),
            })
            .collect();
        f(Request {
            method: self.method.as_str().into(),
            scheme: self.scheme.as_str().into(),
            host: self.host.as_str().into(),
            path: self.path.as_str().into(),
            query: self.query.as_str().into(),
            remote_addr: self.remote_addr.as_str().into(),
            headers: headers.as_slice().into(),
        })
    }
}

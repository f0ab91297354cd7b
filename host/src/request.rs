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
    /// The TCP peer's address, without port: the proxy in front when there is one.
    pub peer_addr: String,
    /// The client's address, without port, as [`TrustedProxies::client_addr`] derives it
    /// from the peer and the headers of trusted proxies (the peer's own address otherwise).
    ///
    /// [`TrustedProxies::client_addr`]: crate::TrustedProxies::client_addr
    pub client_addr: String,
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
            peer_addr: "127.0.0.1".into(),
            client_addr: "127.0.0.1".into(),
            headers: Vec::new(),
        }
    }

    /// A request from an HTTP request line's parts, `"METHOD URL"` (`GET https://h/p?q`), from
    /// `client`; `None` when it is not that shape.
    pub fn from_request_line(line: &str, client: &str) -> Option<Self> {
        let (method, url) = line.trim().split_once(char::is_whitespace)?;
        let (scheme, rest) = url.trim().split_once("://")?;
        let (host, target) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let mut req = OwnedRequest::get(target);
        req.method = method.to_ascii_uppercase();
        req.scheme = scheme.to_ascii_lowercase();
        req.host = host.to_owned();
        req.peer_addr = client.to_owned();
        req.client_addr = client.to_owned();
        Some(req)
    }

    /// Adds a header (builder style).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets both addresses to `addr` (builder style): a client that reached the server
    /// itself, with no proxy in between.
    pub fn from_addr(mut self, addr: &str) -> Self {
        self.peer_addr = addr.into();
        self.client_addr = addr.into();
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
                peer_addr: &self.peer_addr,
                client_addr: &self.client_addr,
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
    /// The TCP peer (see [`OwnedRequest::peer_addr`]); read once the view has `peer_addr()`.
    pub(crate) peer_addr: &'a str,
    /// The derived client (see [`OwnedRequest::client_addr`]).
    pub(crate) client_addr: &'a str,
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
        peer_addr: text.peer_addr,
        client_addr: text.client_addr,
        headers: &headers,
    };
    f(parts.view())
}

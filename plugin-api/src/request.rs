//! What a plugin sees of a request, and what it may change.
//!
//! [`Request`] is a borrowed, read-only view the host builds from its own request type (hyper,
//! axum, a forward-auth call) without copying header values. [`Environ`] is the mutable,
//! per-request state that repoze.who keeps in the WSGI environ: extra values such as
//! `REMOTE_USER_TOKENS`, edits to the downstream request's headers, and a response that
//! replaces the application's (repoze's `repoze.who.application`).

use abi_stable::{
    std_types::{ROption, RSlice, RStr, RString, RVec},
    StableAbi,
};

use crate::value::{Key, Map, Value};

/// A borrowed header of the incoming request.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct Header<'a> {
    /// Header name as received (compare case-insensitively).
    pub name: RStr<'a>,
    /// Header value, decoded as UTF-8 (latin-1 bytes are mapped by the host).
    pub value: RStr<'a>,
}

/// An owned header: what plugins return for remember/forget and put in responses.
#[repr(C)]
#[derive(StableAbi, Clone, PartialEq, Eq)]
pub struct HeaderField {
    /// Header name.
    pub name: RString,
    /// Header value.
    pub value: RString,
}

impl HeaderField {
    /// A header from anything string-like.
    pub fn new(name: impl Into<RString>, value: impl Into<RString>) -> Self {
        HeaderField {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// `Debug` hides values: `Set-Cookie` and `Authorization` carry credentials.
impl std::fmt::Debug for HeaderField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: <{} bytes>", self.name, self.value.len())
    }
}

/// A read-only view of the incoming request, borrowed from the host.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct Request<'a> {
    /// `GET`, `POST`, …
    pub method: RStr<'a>,
    /// `http` or `https`, as the client used it (rebuilt from trusted proxy headers).
    pub scheme: RStr<'a>,
    /// The `Host` the client asked for, possibly with a port.
    pub host: RStr<'a>,
    /// The path, percent-encoded as received.
    pub path: RStr<'a>,
    /// The query string without `?` (empty when absent).
    pub query: RStr<'a>,
    /// The client address without port (`127.0.0.1`, `::1`); empty when unknown.
    pub remote_addr: RStr<'a>,
    /// The request headers in arrival order.
    pub headers: RSlice<'a, Header<'a>>,
    /// Only in the host's ABI-mismatch test fixture: changes this type's layout on purpose.
    #[cfg(feature = "__abi_break_for_tests")]
    #[doc(hidden)]
    pub __abi_break: u64,
}

impl<'a> Request<'a> {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .as_slice()
            .iter()
            .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every header called `name` (case-insensitive).
    pub fn headers_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.headers
            .as_slice()
            .iter()
            .filter(move |h| h.name.as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The value of cookie `name` from the `Cookie` headers (first match), unquoted as
    /// Python's `SimpleCookie` does for simple `"..."` values.
    pub fn cookie(&self, name: &str) -> Option<&'a str> {
        for header in self.headers_named("cookie") {
            for pair in header.split(';') {
                let pair = pair.trim();
                if let Some((k, v)) = pair.split_once('=') {
                    if k.trim() == name {
                        let v = v.trim();
                        let v = v
                            .strip_prefix('"')
                            .and_then(|v| v.strip_suffix('"'))
                            .unwrap_or(v);
                        return Some(v);
                    }
                }
            }
        }
        None
    }

    /// The `Host` without its port (handles `[v6]:port`).
    pub fn host_without_port(&self) -> &'a str {
        let host = self.host.as_str();
        if let Some(rest) = host.strip_prefix('[') {
            if let Some(end) = rest.find(']') {
                return &host[..end + 2];
            }
            return host;
        }
        match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        }
    }

    /// The URL the client asked for: `scheme://host/path?query`.
    pub fn url(&self) -> String {
        let mut url = format!("{}://{}{}", self.scheme, self.host, self.path);
        if !self.query.is_empty() {
            url.push('?');
            url.push_str(self.query.as_str());
        }
        url
    }
}

/// A change to the request the host passes downstream (to the app or the upstream).
///
/// Every edge applies these and also strips incoming copies of each named header, so a client
/// cannot spoof what a plugin sets.
#[repr(C)]
#[derive(StableAbi, Clone, PartialEq, Eq)]
pub struct HeaderEdit {
    /// Header name.
    pub name: RString,
    /// `RSome(value)` sets the header (replacing incoming copies); `RNone` removes it.
    pub value: ROption<RString>,
}

impl std::fmt::Debug for HeaderEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            ROption::RSome(_) => write!(f, "set {}", self.name),
            ROption::RNone => write!(f, "remove {}", self.name),
        }
    }
}

/// A complete HTTP response a plugin produces: a challenge, a redirect, a login page.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code, e.g. 401 or 302.
    pub status: u16,
    /// Response headers.
    pub headers: RVec<HeaderField>,
    /// Response body bytes.
    pub body: RVec<u8>,
}

impl Response {
    /// A response with a status and no headers or body.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: RVec::new(),
            body: RVec::new(),
        }
    }

    /// Adds a header (builder style).
    pub fn with_header(mut self, name: impl Into<RString>, value: impl Into<RString>) -> Self {
        self.headers.push(HeaderField::new(name, value));
        self
    }

    /// Sets the body (builder style).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = RVec::from(body.into());
        self
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }
}

/// Mutable per-request state shared by every plugin called for one request.
///
/// This is repoze.who's WSGI environ minus the request itself: extra values (`REMOTE_USER`,
/// `REMOTE_USER_TOKENS`, `REMOTE_USER_DATA`, anything a plugin wants to hand to another), the
/// edits to the downstream request, and an optional replacement response.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default)]
pub struct Environ {
    values: Map,
    downstream: RVec<HeaderEdit>,
    response: ROption<Response>,
}

impl Environ {
    /// An empty environ; does not allocate.
    pub const fn new() -> Self {
        Environ {
            values: Map::new(),
            downstream: RVec::new(),
            response: ROption::RNone,
        }
    }

    /// The extra value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// The extra value under `key`, when it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.values.get_str(key)
    }

    /// Stores an extra value (e.g. `REMOTE_USER_TOKENS`); a literal key is borrowed, see
    /// [`Key`](crate::value::Key).
    pub fn set<K: AsRef<str> + Into<Key>>(&mut self, key: K, value: impl Into<Value>) {
        self.values.insert(key, value);
    }

    /// Removes an extra value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.values.remove(key)
    }

    /// All extra values.
    pub fn values(&self) -> &Map {
        &self.values
    }

    /// Sets a header on the downstream request, replacing any earlier edit of the same name.
    pub fn set_downstream_header(&mut self, name: impl Into<RString>, value: impl Into<RString>) {
        self.push_edit(name.into(), ROption::RSome(value.into()));
    }

    /// Removes a header from the downstream request.
    pub fn remove_downstream_header(&mut self, name: impl Into<RString>) {
        self.push_edit(name.into(), ROption::RNone);
    }

    fn push_edit(&mut self, name: RString, value: ROption<RString>) {
        self.downstream
            .retain(|e| !e.name.as_str().eq_ignore_ascii_case(name.as_str()));
        self.downstream.push(HeaderEdit { name, value });
    }

    /// The downstream header edits, in the order they were made.
    pub fn downstream_edits(&self) -> &[HeaderEdit] {
        self.downstream.as_slice()
    }

    /// Replaces the application's response with `response` (repoze's
    /// `repoze.who.application`): the last plugin to call this wins.
    pub fn replace_response(&mut self, response: Response) {
        self.response = ROption::RSome(response);
    }

    /// The replacement response, if a plugin set one.
    pub fn response(&self) -> Option<&Response> {
        self.response.as_ref().into_option()
    }

    /// Takes the replacement response out.
    pub fn take_response(&mut self) -> Option<Response> {
        std::mem::replace(&mut self.response, ROption::RNone).into_option()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(headers: &'a [Header<'a>], host: &'a str) -> Request<'a> {
        Request {
            method: "GET".into(),
            scheme: "http".into(),
            host: host.into(),
            path: "/".into(),
            query: "".into(),
            remote_addr: "127.0.0.1".into(),
            headers: headers.into(),
        }
    }

    #[test]
    fn cookie_lookup_handles_quotes_and_multiple_headers() {
        let h = [
            Header {
                name: "Cookie".into(),
                value: "a=1; b=2".into(),
            },
            Header {
                name: "cookie".into(),
                value: "auth_tkt=\"abc!def\"".into(),
            },
        ];
        let r = req(&h, "x");
        assert_eq!(r.cookie("b"), Some("2"));
        assert_eq!(r.cookie("auth_tkt"), Some("abc!def"));
        assert_eq!(r.cookie("zzz"), None);
    }

    #[test]
    fn host_without_port_handles_v6() {
        assert_eq!(
            req(&[], "example.org:8080").host_without_port(),
            "example.org"
        );
        assert_eq!(req(&[], "[::1]:8080").host_without_port(), "[::1]");
        assert_eq!(req(&[], "example.org").host_without_port(), "example.org");
    }

    #[test]
    fn downstream_edits_replace_same_name() {
        let mut env = Environ::new();
        env.set_downstream_header("Authorization", "Bearer a");
        env.set_downstream_header("authorization", "Bearer b");
        env.remove_downstream_header("X-Remote-User");
        assert_eq!(env.downstream_edits().len(), 2);
        assert_eq!(
            env.downstream_edits()[0].value,
            ROption::RSome("Bearer b".into())
        );
    }
}

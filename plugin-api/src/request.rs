//! What a plugin sees of a request, and what it may change: plain-Rust views over the
//! host-implemented [`RequestAbi`](crate::abi::RequestAbi) and
//! [`EnvironAbi`](crate::abi::EnvironAbi) objects.
//!
//! [`Request`] is a read-only view the host lends for one call, without copying header values.
//! [`Environ`] is the mutable per-request state repoze.who keeps in the WSGI environ: extra
//! values such as `REMOTE_USER_TOKENS`, edits to the downstream request's headers, and a
//! response that replaces the application's. Both are implemented by the host, so what they
//! mean is the host's to define and to fix, not something compiled into every plugin.

use std::marker::PhantomData;

use abi_stable::std_types::{ROption, RStr, RString, RVec};

use crate::abi::{EnvironMut, RequestRef};
pub use crate::abi::{Header, HeaderEdit, HeaderField, Response};
use crate::value::{Key, Map, Value};

impl HeaderField {
    /// A header from anything string-like.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        HeaderField {
            name: RString::from(name.into()),
            value: RString::from(value.into()),
        }
    }

    /// The header's name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The header's value.
    pub fn value(&self) -> &str {
        self.value.as_str()
    }
}

/// `Debug` hides values: `Set-Cookie` and `Authorization` carry credentials.
impl std::fmt::Debug for HeaderField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: <{} bytes>", self.name, self.value.len())
    }
}

impl<'a> Header<'a> {
    /// A borrowed header.
    pub fn new(name: &'a str, value: &'a str) -> Self {
        Header {
            name: RStr::from_str(name),
            value: RStr::from_str(value),
        }
    }
}

/// `Debug` hides values, as [`HeaderField`]'s does.
impl std::fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: <{} bytes>", self.name, self.value.len())
    }
}

impl HeaderEdit {
    /// The header's name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The value it is set to, or `None` for a removal.
    pub fn value(&self) -> Option<&str> {
        self.value.as_ref().map(|v| v.as_str()).into_option()
    }
}

impl std::fmt::Debug for HeaderEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let always = if self.always { " (always)" } else { "" };
        match &self.value {
            ROption::RSome(_) => write!(f, "set {}{always}", self.name),
            ROption::RNone => write!(f, "remove {}{always}", self.name),
        }
    }
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
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push(HeaderField::new(name, value));
        self
    }

    /// Sets the body (builder style).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = RVec::from(body.into());
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers, in order.
    pub fn headers(&self) -> &[HeaderField] {
        self.headers.as_slice()
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        self.body.as_slice()
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }
}

/// `Debug` shows the status and header names only (a body may be a login page with a token).
impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers.as_slice())
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A read-only view of the incoming request, lent by the host for one call.
///
/// Covariant in `'a` (a longer-lived view can stand in for a shorter one), which abi_stable's
/// trait objects are not: the object is kept with its lifetime erased and only ever lent out
/// re-bound to a borrow of this view.
pub struct Request<'a> {
    obj: RequestRef<'static>,
    _lent: PhantomData<&'a ()>,
}

impl<'a> Request<'a> {
    /// Wraps the host's request object (the SDK's glue and the host do this).
    pub fn from_abi(obj: RequestRef<'a>) -> Self {
        // SAFETY: the types differ only in lifetimes. The erased object is reachable only
        // through `&self` methods, whose results borrow `self`, which cannot outlive `'a`.
        let obj = unsafe { std::mem::transmute::<RequestRef<'a>, RequestRef<'static>>(obj) };
        Request {
            obj,
            _lent: PhantomData,
        }
    }

    /// The ABI object, to hand on to another plugin.
    pub fn abi(&self) -> RequestRef<'_> {
        let lent = self.obj.sabi_reborrow();
        // SAFETY: only the trait object's lifetime parameter changes, to the borrow of `self`.
        unsafe {
            std::mem::transmute::<
                crate::abi::RequestAbi_TO<'static, abi_stable::sabi_types::RRef<'_, ()>>,
                RequestRef<'_>,
            >(lent)
        }
    }

    /// `GET`, `POST`, …
    pub fn method(&self) -> &str {
        self.obj.method().as_str()
    }

    /// `http` or `https`, as the client used it (rebuilt from trusted proxy headers only).
    pub fn scheme(&self) -> &str {
        self.obj.scheme().as_str()
    }

    /// The `Host` the client asked for, possibly with a port.
    pub fn host(&self) -> &str {
        self.obj.host().as_str()
    }

    /// The path, percent-encoded as received.
    pub fn path(&self) -> &str {
        self.obj.path().as_str()
    }

    /// The query string without `?` (empty when absent).
    pub fn query(&self) -> &str {
        self.obj.query().as_str()
    }

    /// The TCP peer's address without port: a proxy when there is one. Use it to decide
    /// whether to believe headers a proxy sets.
    pub fn peer_addr(&self) -> &str {
        self.obj.peer_addr().as_str()
    }

    /// The client's address without port: the right-most forwarded hop that is not a trusted
    /// proxy (the peer itself when there is no trusted proxy). Use it for per-client limits and
    /// address binding (auth_tkt's `include_ip`). Empty when unknown.
    pub fn client_addr(&self) -> &str {
        self.obj.client_addr().as_str()
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.obj
            .header(RStr::from_str(name))
            .map(|v| v.as_str())
            .into_option()
    }

    /// Every header, in arrival order, as `(name, value)`.
    pub fn headers<'s>(&'s self) -> impl Iterator<Item = (&'s str, &'s str)> + use<'s, 'a> {
        (0..self.obj.header_count()).filter_map(move |i| {
            self.obj
                .header_at(i)
                .map(|h| (h.name.as_str(), h.value.as_str()))
                .into_option()
        })
    }

    /// Every header called `name` (case-insensitive).
    pub fn headers_named<'s>(
        &'s self,
        name: &'s str,
    ) -> impl Iterator<Item = &'s str> + use<'s, 'a> {
        self.headers()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The value of cookie `name` (first match), unquoted as Python's `SimpleCookie` does for
    /// simple `"..."` values.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.obj
            .cookie(RStr::from_str(name))
            .map(|v| v.as_str())
            .into_option()
    }

    /// The `Host` without its port (handles `[v6]:port`).
    pub fn host_without_port(&self) -> &str {
        host_without_port(self.host())
    }

    /// The URL the client asked for: `scheme://host/path?query`.
    pub fn url(&self) -> String {
        let mut url = format!("{}://{}{}", self.scheme(), self.host(), self.path());
        if !self.query().is_empty() {
            url.push('?');
            url.push_str(self.query());
        }
        url
    }

    /// A request capability a host added after 1.0 (see docs/PLUGINS.md), checked against
    /// the layout this plugin was compiled with.
    pub fn capability(&self, name: &str) -> Option<crate::abi::Extension> {
        self.obj.capability(RStr::from_str(name)).into_option()
    }
}

impl Clone for Request<'_> {
    fn clone(&self) -> Self {
        let lent = self.obj.sabi_reborrow();
        // SAFETY: only lifetimes change: the copy points at the same host object, which lives
        // for this view's `'a`, and carries the same `'a`.
        let obj = unsafe {
            std::mem::transmute::<
                crate::abi::RequestAbi_TO<'static, abi_stable::sabi_types::RRef<'_, ()>>,
                RequestRef<'static>,
            >(lent)
        };
        Request {
            obj,
            _lent: PhantomData,
        }
    }
}

/// `Debug` redacts like [`Value`]'s: header names only, never `Authorization` or cookies.
impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers().map(|(n, _)| n).collect();
        f.debug_struct("Request")
            .field("method", &self.method())
            .field("host", &self.host())
            .field("path", &self.path())
            .field("query_len", &self.query().len())
            .field("client_addr", &self.client_addr())
            .field("headers", &names)
            .finish()
    }
}

/// `host` without its port (handles `[v6]:port`).
pub fn host_without_port(host: &str) -> &str {
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

/// The value of cookie `name` in `Cookie` header values (first match), unquoted as Python's
/// `SimpleCookie` does for simple `"..."` values. Hosts implement
/// [`RequestAbi::cookie`](crate::abi::RequestAbi::cookie) with it.
pub fn find_cookie<'a>(
    cookie_headers: impl Iterator<Item = &'a str>,
    name: &str,
) -> Option<&'a str> {
    for header in cookie_headers {
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

/// Mutable per-request state shared by every plugin called for one request, lent by the host.
///
/// This is repoze.who's WSGI environ minus the request itself: extra values (`REMOTE_USER`,
/// `REMOTE_USER_TOKENS`, anything a plugin wants to hand to another), the edits to the
/// downstream request, and an optional replacement response.
pub struct Environ<'a> {
    obj: EnvironMut<'a>,
}

impl<'a> Environ<'a> {
    /// Wraps the host's environ object (the SDK's glue and the host do this).
    pub fn from_abi(obj: EnvironMut<'a>) -> Self {
        Environ { obj }
    }

    /// The ABI object, to hand on to another plugin.
    pub fn abi(&mut self) -> EnvironMut<'_> {
        self.obj.sabi_reborrow_mut()
    }

    /// The extra value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.obj.get(RStr::from_str(key)).into_option()
    }

    /// The extra value under `key`, when it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// Stores an extra value (e.g. `REMOTE_USER_TOKENS`).
    pub fn set(&mut self, key: impl Into<Key>, value: impl Into<Value>) {
        self.obj.set(key.into(), value.into());
    }

    /// Removes an extra value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.obj.remove(RStr::from_str(key)).into_option()
    }

    /// All extra values.
    pub fn values(&self) -> &Map {
        self.obj.values()
    }

    /// Sets a header on the downstream request, replacing any earlier edit of the same name.
    /// Applied only when the request ends up authenticated; the edges strip client copies of
    /// every header a plugin declares (`DOWNSTREAM_HEADERS`) either way.
    pub fn set_downstream_header(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.obj.edit_downstream(
            RString::from(name.into()),
            ROption::RSome(RString::from(value.into())),
            false,
        );
    }

    /// Like [`set_downstream_header`](Self::set_downstream_header), applied to anonymous
    /// requests too (a header that carries no identity, such as a request id).
    pub fn set_downstream_header_always(
        &mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) {
        self.obj.edit_downstream(
            RString::from(name.into()),
            ROption::RSome(RString::from(value.into())),
            true,
        );
    }

    /// Removes a header from the downstream request (when authenticated).
    pub fn remove_downstream_header(&mut self, name: impl Into<String>) {
        self.obj
            .edit_downstream(RString::from(name.into()), ROption::RNone, false);
    }

    /// The downstream header edits, in the order they were made.
    pub fn downstream_edits(&self) -> Vec<HeaderEdit> {
        self.obj.downstream_edits().into_vec()
    }

    /// Replaces the application's response with `response` (repoze's
    /// `repoze.who.application`): the last plugin to call this wins.
    pub fn replace_response(&mut self, response: Response) {
        self.obj.replace_response(response);
    }

    /// The replacement response, if a plugin set one.
    pub fn response(&self) -> Option<&Response> {
        self.obj.response().into_option()
    }

    /// Takes the replacement response out.
    pub fn take_response(&mut self) -> Option<Response> {
        self.obj.take_response().into_option()
    }
}

impl std::fmt::Debug for Environ<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environ")
            .field("values", self.values())
            .finish_non_exhaustive()
    }
}

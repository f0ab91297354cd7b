//! What every HTTP edge shares: which peers are trusted proxies, how the request plugins see
//! is rebuilt from `X-Forwarded-*` / `X-Original-*`, and which downstream headers are
//! stripped so clients cannot spoof them.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::RwLock;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use rewho_plugin_api::{HeaderEdit, HeaderField};

use crate::request::OwnedRequest;

/// The header carrying the authenticated user id downstream (and back to forward-auth
/// proxies). Incoming copies are always stripped.
pub const REMOTE_USER_HEADER: &str = "x-remote-user";

/// Peers whose `X-Forwarded-*` and `X-Original-*` headers are believed: loopback always, plus
/// the addresses and CIDRs of `[general] trusted_proxies`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<(IpAddr, u8)>,
}

/// A `trusted_proxies` entry that is neither an IP address nor a CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "[general] trusted_proxies: `{entry}` is not an IP address or CIDR (e.g. 10.0.0.0/8, fd00::/8)"
)]
pub struct InvalidProxy {
    /// The entry as written.
    pub entry: String,
}

impl TrustedProxies {
    /// Loopback only.
    pub fn loopback() -> Self {
        TrustedProxies::default()
    }

    /// Parses `[general] trusted_proxies` entries (each may hold several, separated by
    /// whitespace or commas): `10.1.2.3`, `10.0.0.0/8`, `fd00::/8`.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, InvalidProxy> {
        let mut nets = Vec::new();
        for entry in entries
            .iter()
            .flat_map(|e| e.as_ref().split([',', ' ', '\t', '\n']))
            .filter(|e| !e.is_empty())
        {
            let bad = || InvalidProxy {
                entry: entry.to_owned(),
            };
            let (addr, bits) = match entry.split_once('/') {
                Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
                None => (entry, None),
            };
            let addr: IpAddr = addr.parse().map_err(|_| bad())?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let bits = bits.unwrap_or(max);
            if bits > max {
                return Err(bad());
            }
            nets.push((addr, bits));
        }
        Ok(TrustedProxies { nets })
    }

    /// Whether `ip` is loopback or inside one of the configured networks (IPv4-mapped IPv6
    /// addresses count as their IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        ip.is_loopback()
            || self.nets.iter().any(|&(net, bits)| match (net, ip) {
                (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), bits),
                (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), bits),
                _ => false,
            })
    }
}

fn prefix_eq(net: &[u8], addr: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    if net[..full] != addr[..full] {
        return false;
    }
    let rest = bits % 8;
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        net[full] & mask == addr[full] & mask
    }
}

/// Which forwarded headers describe the request to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rebuild {
    /// The request is the one to authenticate; trusted proxies may tell its scheme, host and
    /// client (`X-Forwarded-Proto/Host/For`, `X-Real-IP`).
    Direct,
    /// A forward-auth call: the request to authenticate is described by `X-Original-URI` /
    /// `X-Original-Method` (nginx) or `X-Forwarded-Method/Uri` (Traefik, Caddy) too.
    ForwardAuth,
}

/// A header's value as text: UTF-8 when it is, else latin-1 (each byte one char).
pub(crate) fn header_text(v: &HeaderValue) -> Cow<'_, str> {
    match std::str::from_utf8(v.as_bytes()) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(v.as_bytes().iter().map(|&b| char::from(b)).collect()),
    }
}

/// The first value of each proxy header a request carries, found while its headers are
/// copied for the plugins: one pass over the headers instead of a map lookup per name (ten
/// lookups cost more than the rest of the request snapshot).
#[derive(Default)]
struct ProxyHeaders<'h> {
    real_ip: Option<&'h HeaderValue>,
    forwarded_for: bool,
    forwarded_proto: Option<&'h HeaderValue>,
    forwarded_host: Option<&'h HeaderValue>,
    original_method: Option<&'h HeaderValue>,
    original_uri: Option<&'h HeaderValue>,
    forwarded_method: Option<&'h HeaderValue>,
    original_url: Option<&'h HeaderValue>,
    forwarded_uri: Option<&'h HeaderValue>,
}

impl<'h> ProxyHeaders<'h> {
    /// Notes `value` if `name` is a proxy header not seen yet.
    fn note(&mut self, name: &str, value: &'h HeaderValue) {
        if !name.starts_with("x-") {
            return;
        }
        let slot = match name {
            "x-real-ip" => &mut self.real_ip,
            "x-forwarded-proto" => &mut self.forwarded_proto,
            "x-forwarded-host" => &mut self.forwarded_host,
            "x-original-method" => &mut self.original_method,
            "x-original-uri" => &mut self.original_uri,
            "x-forwarded-method" => &mut self.forwarded_method,
            "x-original-url" => &mut self.original_url,
            "x-forwarded-uri" => &mut self.forwarded_uri,
            "x-forwarded-for" => {
                self.forwarded_for = true;
                return;
            }
            _ => return,
        };
        slot.get_or_insert(value);
    }
}

/// A header's text, trimmed; `None` when absent or blank.
fn text(value: Option<&HeaderValue>) -> Option<Cow<'_, str>> {
    value
        .map(header_text)
        .map(|v| match v {
            Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
            Cow::Owned(s) => Cow::Owned(s.trim().to_owned()),
        })
        .filter(|v| !v.is_empty())
}

/// The client address a trusted proxy reports: `X-Real-IP`, else the right-most address of
/// `X-Forwarded-For` that is not itself a trusted proxy.
fn forwarded_client(
    headers: &HeaderMap,
    proxy: &ProxyHeaders<'_>,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    if let Some(ip) = text(proxy.real_ip).and_then(|v| v.parse().ok()) {
        return Some(ip);
    }
    if !proxy.forwarded_for {
        return None;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| {
            header_text(v)
                .split(',')
                .filter_map(|s| parse_hop(s.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    hops.iter()
        .rev()
        .find(|ip| !trusted.contains(**ip))
        .or(hops.first())
        .copied()
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]:5678`.
fn parse_hop(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .and_then(|(ip, _)| ip.parse().ok())
}

/// What [`snapshot`] learnt besides the request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Provenance {
    /// The peer is a trusted proxy and its headers were used.
    pub(crate) trusted: bool,
    /// The request came through nginx's `auth_request` (it sent `X-Original-*`): a
    /// redirect must be answered as 401 with `Location`, since nginx turns any status but
    /// 2xx/401/403 of the subrequest into a 500.
    pub(crate) nginx: bool,
}

/// Builds the request plugins see from an HTTP request and its TCP peer, owned: for calls
/// that may move to another thread ([`WhoApi`](super::WhoApi)). See [`rebuild`].
pub(crate) fn snapshot(
    parts: &Parts,
    peer: Option<SocketAddr>,
    trusted: &TrustedProxies,
    mode: Rebuild,
) -> (OwnedRequest, Provenance) {
    let (req, prov) = rebuild(parts, peer, trusted, mode);
    (req.into_owned(), prov)
}

/// The request plugins see, borrowing its text from the HTTP request wherever that is the
/// text plugins see (everything but a latin-1 header, a lowercased scheme or an uppercased
/// method). [`snapshot`] copies it; forward-auth lends it to its inline attempt as it is,
/// which saves copying every header name and value on the hot path (about 2 000 of the
/// 30 000 instructions of a forward-auth request).
pub(crate) struct RebuiltRequest<'a> {
    method: Cow<'a, str>,
    scheme: Cow<'a, str>,
    host: Cow<'a, str>,
    path: Cow<'a, str>,
    query: Cow<'a, str>,
    remote_addr: String,
    headers: Vec<(&'a str, Cow<'a, str>)>,
}

impl RebuiltRequest<'_> {
    /// An owned copy, for calls that outlive the HTTP request or move to another thread.
    pub(crate) fn into_owned(self) -> OwnedRequest {
        OwnedRequest {
            method: self.method.into_owned(),
            scheme: self.scheme.into_owned(),
            host: self.host.into_owned(),
            path: self.path.into_owned(),
            query: self.query.into_owned(),
            remote_addr: self.remote_addr,
            headers: self
                .headers
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v.into_owned()))
                .collect(),
        }
    }

    /// Runs `f` with the plugins' view of this request (as [`OwnedRequest::with_view`]).
    pub(crate) fn with_view<R>(&self, f: impl FnOnce(rewho_plugin_api::Request<'_>) -> R) -> R {
        crate::request::lend_view(
            crate::request::RequestText {
                method: &self.method,
                scheme: &self.scheme,
                host: &self.host,
                path: &self.path,
                query: &self.query,
                remote_addr: &self.remote_addr,
            },
            self.headers.iter().map(|(n, v)| (*n, v.as_ref())),
            f,
        )
    }
}

/// Builds the request plugins see from an HTTP request and its TCP peer, borrowing from
/// `parts` (see [`RebuiltRequest`]).
pub(crate) fn rebuild<'a>(
    parts: &'a Parts,
    peer: Option<SocketAddr>,
    trusted: &TrustedProxies,
    mode: Rebuild,
) -> (RebuiltRequest<'a>, Provenance) {
    let headers = &parts.headers;
    let mut req = RebuiltRequest {
        method: Cow::Borrowed(parts.method.as_str()),
        scheme: lowercase(Cow::Borrowed(parts.uri.scheme_str().unwrap_or("http"))),
        host: match parts.uri.authority() {
            Some(a) => Cow::Borrowed(a.as_str()),
            None => text(headers.get(http::header::HOST)).unwrap_or_default(),
        },
        path: Cow::Borrowed(parts.uri.path()),
        query: Cow::Borrowed(parts.uri.query().unwrap_or_default()),
        remote_addr: peer.map(|p| ip_text(p.ip())).unwrap_or_default(),
        headers: Vec::with_capacity(headers.len()),
    };
    let mut proxy = ProxyHeaders::default();
    for (name, value) in headers {
        proxy.note(name.as_str(), value);
        req.headers.push((name.as_str(), header_text(value)));
    }
    let mut prov = Provenance::default();
    if !peer.is_some_and(|p| trusted.contains(p.ip())) {
        return (req, prov);
    }
    prov.trusted = true;
    if let Some(proto) = text(proxy.forwarded_proto) {
        let proto = narrow(proto, |p| p.split(',').next().unwrap_or("").trim());
        if proto.eq_ignore_ascii_case("http") || proto.eq_ignore_ascii_case("https") {
            req.scheme = lowercase(proto);
        }
    }
    if let Some(host) = text(proxy.forwarded_host) {
        req.host = narrow(host, |h| h.split(',').next().unwrap_or("").trim());
    }
    if let Some(ip) = forwarded_client(headers, &proxy, trusted) {
        req.remote_addr = ip_text(ip);
    }
    if mode == Rebuild::ForwardAuth {
        let method = text(proxy.original_method);
        let uri = text(proxy.original_uri);
        prov.nginx = method.is_some() || uri.is_some();
        if let Some(m) = method.or_else(|| text(proxy.forwarded_method)) {
            req.method = uppercase(m);
        }
        if let Some(url) = text(proxy.original_url) {
            // `scheme://host/path?query` (Authelia-style nginx configs send this).
            if let Some(at) = url.find("://") {
                let rest = narrow(url.clone(), |u| &u[at + 3..]);
                let slash = rest.find('/');
                req.scheme = lowercase(narrow(url, |u| &u[..at]));
                req.host = narrow(rest.clone(), |r| slash.map_or(r, |i| &r[..i]));
                let target = narrow(rest, |r| slash.map_or("/", |i| &r[i..]));
                set_target(&mut req, target);
                prov.nginx = true;
            }
        }
        if let Some(target) = uri.or_else(|| text(proxy.forwarded_uri)) {
            set_target(&mut req, target);
        }
    }
    (req, prov)
}

/// The part of `text` that `part` picks, borrowed when `text` is.
fn narrow<'a>(text: Cow<'a, str>, part: impl for<'s> Fn(&'s str) -> &'s str) -> Cow<'a, str> {
    match text {
        Cow::Borrowed(s) => Cow::Borrowed(part(s)),
        Cow::Owned(s) => Cow::Owned(part(&s).to_owned()),
    }
}

/// `text` in ASCII lowercase, borrowed when it already is.
fn lowercase(text: Cow<'_, str>) -> Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(text.to_ascii_lowercase())
    } else {
        text
    }
}

/// `text` in ASCII uppercase, borrowed when it already is.
fn uppercase(text: Cow<'_, str>) -> Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(text.to_ascii_uppercase())
    } else {
        text
    }
}

/// `ip` (IPv4-mapped IPv6 as IPv4) as text. Formatting an address costs more than copying
/// one, and a server behind a proxy sees one peer address (or a few) over and over, so each
/// thread keeps the last one it formatted.
fn ip_text(ip: IpAddr) -> String {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(IpAddr, String)>> =
            const { std::cell::RefCell::new(None) };
    }
    let ip = canonical_ip(ip);
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((seen, text)) if *seen == ip => text.clone(),
            _ => {
                let text = ip.to_string();
                *last = Some((ip, text.clone()));
                text
            }
        }
    })
}

fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Sets path and query from a request target (`/path?query`; a missing leading `/` is added).
fn set_target<'a>(req: &mut RebuiltRequest<'a>, target: Cow<'a, str>) {
    let q = target.find('?');
    let path = narrow(target.clone(), |t| q.map_or(t, |i| &t[..i]));
    req.query = narrow(target, |t| q.map_or("", |i| &t[i + 1..]));
    req.path = if path.starts_with('/') {
        path
    } else {
        Cow::Owned(format!("/{path}"))
    };
}

/// The names of downstream headers that are stripped from every incoming request: the user
/// header, the names configured, and every name a plugin edit has ever touched (learnt as
/// edits are seen, so a header a plugin sets only for some users is stripped for all).
#[derive(Debug)]
pub(crate) struct HeaderGuard {
    names: RwLock<Vec<HeaderName>>,
}

impl HeaderGuard {
    pub(crate) fn new<S: AsRef<str>>(extra: &[S]) -> Self {
        let mut names = vec![HeaderName::from_static(REMOTE_USER_HEADER)];
        for n in extra {
            if let Ok(n) = HeaderName::from_bytes(n.as_ref().trim().as_bytes()) {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        HeaderGuard {
            names: RwLock::new(names),
        }
    }

    /// Adds header names (invalid ones are ignored).
    pub(crate) fn add<S: AsRef<str>>(&self, extra: &[S]) {
        let mut names = self.names.write().unwrap_or_else(|e| e.into_inner());
        for n in extra {
            if let Ok(n) = HeaderName::from_bytes(n.as_ref().trim().as_bytes()) {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
    }

    /// Records the names in `edits` so later requests strip them too.
    pub(crate) fn learn(&self, edits: &[HeaderEdit]) {
        let new: Vec<HeaderName> = {
            let names = self.names.read().unwrap_or_else(|e| e.into_inner());
            edits
                .iter()
                .filter_map(|e| HeaderName::from_bytes(e.name.as_bytes()).ok())
                .filter(|n| !names.contains(n))
                .collect()
        };
        if !new.is_empty() {
            let mut names = self.names.write().unwrap_or_else(|e| e.into_inner());
            for n in new {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
    }

    /// Removes every guarded header from `headers`.
    pub(crate) fn strip(&self, headers: &mut HeaderMap) {
        let names = self.names.read().unwrap_or_else(|e| e.into_inner());
        for n in names.iter() {
            headers.remove(n);
        }
    }

    /// The guarded names.
    pub(crate) fn names(&self) -> Vec<HeaderName> {
        self.names.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What ingress found, owned, for the edge to act on after the Api is put away.
#[derive(Debug, Clone, Default)]
pub(crate) struct Admission {
    /// The authenticated user id, as text.
    pub(crate) userid: Option<String>,
    /// The plugins' downstream header edits.
    pub(crate) edits: Vec<HeaderEdit>,
}

impl Admission {
    /// Strips guarded headers from `headers`, then sets the user header and the edits.
    pub(crate) fn apply(&self, guard: &HeaderGuard, headers: &mut HeaderMap) {
        guard.learn(&self.edits);
        guard.strip(headers);
        if let Some(userid) = &self.userid {
            match HeaderValue::from_str(userid) {
                Ok(v) => {
                    headers.insert(HeaderName::from_static(REMOTE_USER_HEADER), v);
                }
                Err(_) => tracing::warn!(
                    target: "rewho::edge",
                    "user id is not a valid header value; X-Remote-User not sent"
                ),
            }
        }
        for edit in &self.edits {
            let Ok(name) = HeaderName::from_bytes(edit.name.as_bytes()) else {
                tracing::warn!(target: "rewho::edge", header = %edit.name, "invalid header name in a plugin edit");
                continue;
            };
            match edit.value.as_ref().into_option() {
                Some(value) => match HeaderValue::from_bytes(value.as_bytes()) {
                    Ok(v) => {
                        headers.insert(name, v);
                    }
                    Err(_) => {
                        tracing::warn!(target: "rewho::edge", header = %edit.name, "invalid header value in a plugin edit")
                    }
                },
                None => {
                    headers.remove(name);
                }
            }
        }
    }
}

/// Appends plugin headers (remember, forget, a challenge's) to an HTTP header map, skipping
/// (and logging) any that are not valid HTTP.
pub(crate) fn append_fields(headers: &mut HeaderMap, fields: &[HeaderField]) {
    for f in fields {
        match (
            HeaderName::from_bytes(f.name.as_bytes()),
            HeaderValue::from_bytes(f.value.as_bytes()),
        ) {
            (Ok(n), Ok(v)) => {
                headers.append(n, v);
            }
            _ => {
                tracing::warn!(target: "rewho::edge", header = %f.name, "plugin returned an invalid header; dropped")
            }
        }
    }
}

/// An HTTP header map as plugin header fields (for the challenge decider).
pub(crate) fn to_fields(headers: &HeaderMap) -> Vec<HeaderField> {
    headers
        .iter()
        .map(|(n, v)| HeaderField::new(n.as_str(), header_text(v).as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matching() {
        let t =
            TrustedProxies::parse(&["10.0.0.0/8, 192.168.1.7", "fd00::/8 172.16.0.0/12"]).unwrap();
        for yes in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "10.255.0.1",
            "192.168.1.7",
            "fd12::1",
            "172.31.255.255",
            "::ffff:10.1.1.1",
        ] {
            assert!(t.contains(yes.parse().unwrap()), "{yes}");
        }
        for no in [
            "11.0.0.1",
            "192.168.1.8",
            "fe80::1",
            "172.32.0.1",
            "8.8.8.8",
        ] {
            assert!(!t.contains(no.parse().unwrap()), "{no}");
        }
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(&["example.org"]).is_err());
        assert!(TrustedProxies::parse(&["10.0.0.0/x"]).is_err());
        let t = TrustedProxies::parse(&["10.1.2.0/23"]).unwrap();
        assert!(t.contains("10.1.3.200".parse().unwrap()));
        assert!(!t.contains("10.1.4.1".parse().unwrap()));
    }

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder().uri(uri);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn forward_auth_rebuilds_only_from_trusted_peers() {
        let p = parts(
            "/_rewho/auth",
            &[
                ("host", "rewho:8080"),
                ("x-original-uri", "/private/page?a=1"),
                ("x-original-method", "post"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "app.example"),
                ("x-forwarded-for", "203.0.113.9, 10.0.0.2"),
            ],
        );
        let trusted = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let (r, prov) = snapshot(&p, Some(local), &trusted, Rebuild::ForwardAuth);
        assert!(prov.trusted && prov.nginx);
        assert_eq!(
            (r.method.as_str(), r.scheme.as_str(), r.host.as_str()),
            ("POST", "https", "app.example")
        );
        assert_eq!(
            (r.path.as_str(), r.query.as_str()),
            ("/private/page", "a=1")
        );
        assert_eq!(r.remote_addr, "203.0.113.9");

        let outsider: SocketAddr = "198.51.100.1:5000".parse().unwrap();
        let (r, prov) = snapshot(&p, Some(outsider), &trusted, Rebuild::ForwardAuth);
        assert!(!prov.trusted);
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("GET", "/_rewho/auth")
        );
        assert_eq!(
            (r.host.as_str(), r.remote_addr.as_str()),
            ("rewho:8080", "198.51.100.1")
        );

        // Direct mode never takes the method or path from headers.
        let (r, _) = snapshot(&p, Some(local), &trusted, Rebuild::Direct);
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("GET", "/_rewho/auth")
        );
        assert_eq!(r.scheme, "https");
    }

    #[test]
    fn the_first_of_repeated_proxy_headers_counts_and_every_forwarded_for_line() {
        let p = parts(
            "/_rewho/auth",
            &[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-proto", "http"),
                ("x-forwarded-uri", "  "),
                ("x-forwarded-uri", "/second"),
                ("x-forwarded-for", "198.51.100.7"),
                ("x-forwarded-for", "10.0.0.9"),
            ],
        );
        let trusted = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let local: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let (r, _) = snapshot(&p, Some(local), &trusted, Rebuild::ForwardAuth);
        assert_eq!(
            r.scheme, "https",
            "the first value, as HeaderMap::get gives it"
        );
        assert_eq!(r.path, "/_rewho/auth", "a blank first value means none");
        assert_eq!(
            r.remote_addr, "198.51.100.7",
            "both X-Forwarded-For lines are read"
        );
        assert_eq!(r.headers.len(), 6, "plugins see every header line");
    }

    #[test]
    fn traefik_headers() {
        let p = parts(
            "/_rewho/auth",
            &[
                ("x-forwarded-method", "DELETE"),
                ("x-forwarded-uri", "/x?y"),
                ("x-forwarded-proto", "http"),
                ("x-forwarded-host", "h.example:8443"),
                ("x-forwarded-for", "192.0.2.1"),
            ],
        );
        let local: SocketAddr = "[::1]:1".parse().unwrap();
        let (r, prov) = snapshot(
            &p,
            Some(local),
            &TrustedProxies::loopback(),
            Rebuild::ForwardAuth,
        );
        assert!(!prov.nginx);
        assert_eq!(r.method, "DELETE");
        assert_eq!(r.host, "h.example:8443");
        assert_eq!((r.path.as_str(), r.query.as_str()), ("/x", "y"));
        assert_eq!(r.remote_addr, "192.0.2.1");
    }

    #[test]
    fn original_url_latin1_and_case_are_rebuilt_alike_borrowed_and_owned() {
        let mut p = parts(
            "/_rewho/auth",
            &[
                ("x-original-url", "HTTPS://App.Example:8443/a/b?c=d"),
                ("x-forwarded-proto", "HTTPS, http"),
                ("x-forwarded-method", "patch"),
                ("x-forwarded-host", " h1.example , h2.example"),
            ],
        );
        p.headers.insert(
            "x-latin",
            HeaderValue::from_bytes(b"caf\xe9").expect("obs-text is a valid value"),
        );
        let local: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let trusted = TrustedProxies::loopback();
        let (borrowed, prov) = rebuild(&p, Some(local), &trusted, Rebuild::ForwardAuth);
        assert!(prov.nginx, "X-Original-URL comes from nginx");
        let seen = |r: rewho_plugin_api::Request<'_>| {
            let h: Vec<(String, String)> = r
                .headers()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            (
                [
                    r.method(),
                    r.scheme(),
                    r.host(),
                    r.path(),
                    r.query(),
                    r.client_addr(),
                ]
                .map(|t| t.to_string()),
                h,
            )
        };
        let (fields, headers) = borrowed.with_view(seen);
        assert_eq!(
            fields,
            [
                "PATCH",
                "https",
                "App.Example:8443",
                "/a/b",
                "c=d",
                "127.0.0.1"
            ]
            .map(String::from)
        );
        assert!(headers.contains(&("x-latin".to_owned(), "caf\u{e9}".to_owned())));
        let owned = borrowed.into_owned();
        assert_eq!(owned.with_view(seen), (fields, headers));

        // A target without its leading slash gets one; X-Forwarded-Uri's query is split off.
        let p = parts(
            "/_rewho/auth",
            &[
                ("x-forwarded-uri", "page?x=1"),
                ("x-forwarded-host", " h1 , h2"),
            ],
        );
        let (r, _) = snapshot(&p, Some(local), &trusted, Rebuild::ForwardAuth);
        assert_eq!(
            (r.path.as_str(), r.query.as_str(), r.host.as_str()),
            ("/page", "x=1", "h1")
        );
    }

    #[test]
    fn guard_strips_learnt_names() {
        let guard = HeaderGuard::new(&["X-Groups"]);
        let mut h = HeaderMap::new();
        h.insert("x-remote-user", "evil".parse().unwrap());
        h.insert("x-groups", "admin".parse().unwrap());
        h.insert("x-email", "e@evil".parse().unwrap());
        h.insert("cookie", "a=b".parse().unwrap());
        let adm = Admission {
            userid: None,
            edits: vec![HeaderEdit {
                name: "X-Email".into(),
                value: abi_stable::std_types::ROption::RNone,
                always: false,
            }],
        };
        adm.apply(&guard, &mut h);
        assert_eq!(h.len(), 1);
        let mut h2 = HeaderMap::new();
        h2.insert("x-email", "later@evil".parse().unwrap());
        Admission::default().apply(&guard, &mut h2);
        assert!(h2.is_empty(), "a learnt name is stripped on later requests");
    }
}

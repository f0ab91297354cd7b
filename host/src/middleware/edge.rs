//! What every HTTP edge shares: which peers are trusted proxies, the one rule that gives the
//! client address ([`TrustedProxies::client_addr`]), how the request plugins see is rebuilt
//! from `X-Forwarded-*` / `X-Original-*` (and pinned by `[general] public_url`), and which
//! downstream headers are stripped, by normalized name, so clients cannot spoof them.

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

/// Peers whose `X-Forwarded-*`, `Forwarded` and `X-Original-*` headers are believed: loopback
/// always, plus the addresses and CIDRs of `[general] trusted_proxies`; and the single header
/// (`[general] real_ip_header`, none by default) that such a peer may name the client in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<(IpAddr, u8)>,
    real_ip_header: Option<HeaderName>,
}

/// A `[general]` option of the edges (`trusted_proxies`, `real_ip_header`, `public_url`) that
/// cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[general] {option}: `{entry}` {reason}")]
pub struct InvalidProxy {
    /// The option.
    pub option: &'static str,
    /// The entry as written.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
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
                option: "trusted_proxies",
                entry: entry.to_owned(),
                reason: "is not an IP address or CIDR (e.g. 10.0.0.0/8, fd00::/8)",
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
        Ok(TrustedProxies {
            nets,
            real_ip_header: None,
        })
    }

    /// Believes the client address a trusted peer puts in the single header `name`
    /// (`[general] real_ip_header`, e.g. `X-Real-IP`) before `X-Forwarded-For`. Without it no
    /// such header is read: a proxy that passes a client's own `X-Real-IP` on unchanged
    /// would otherwise let the client choose its address.
    pub fn with_real_ip_header(mut self, name: &str) -> Result<Self, InvalidProxy> {
        let name = name.trim();
        self.real_ip_header = match name {
            "" => None,
            n => Some(
                HeaderName::from_bytes(n.as_bytes()).map_err(|_| InvalidProxy {
                    option: "real_ip_header",
                    entry: n.to_owned(),
                    reason: "is not a header name",
                })?,
            ),
        };
        Ok(self)
    }

    /// The client's address, by the one rule every edge and plugin uses: walking from the TCP
    /// `peer` towards the client, each hop that is a trusted proxy vouches for the hop it
    /// names, so the client is the right-most `X-Forwarded-For` entry that is not a trusted
    /// proxy (or the left-most when all are). `Forwarded` (RFC 7239) `for=` entries are read
    /// instead when there is no `X-Forwarded-For`. Nothing is read from an untrusted peer; a
    /// hop that is not an address (`unknown`, an obfuscated name) ends the walk at the last
    /// trusted address. With [`with_real_ip_header`](Self::with_real_ip_header), a trusted
    /// peer's value of that header comes first.
    pub fn client_addr(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical_ip(peer);
        if !self.contains(peer) {
            return peer;
        }
        if let Some(name) = &self.real_ip_header {
            if let Some(ip) = text(headers.get(name)).and_then(|v| parse_hop(&v)) {
                return canonical_ip(ip);
            }
        }
        let xff = headers.get_all("x-forwarded-for");
        let mut hops: Vec<Option<IpAddr>> = xff
            .iter()
            .flat_map(|v| {
                header_text(v)
                    .split(',')
                    .map(|h| parse_hop(h.trim()))
                    .collect::<Vec<_>>()
            })
            .collect();
        if xff.iter().next().is_none() {
            hops = headers
                .get_all(http::header::FORWARDED)
                .iter()
                .flat_map(|v| forwarded_for(&header_text(v)))
                .collect();
        }
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            if !self.contains(client) {
                break;
            }
            match hop {
                Some(ip) => client = canonical_ip(ip),
                None => break,
            }
        }
        client
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

/// `[general] public_url`: the scheme and host of the site as its users reach it. When set,
/// the request plugins see carries them instead of a client's `Host` (or a proxy's
/// `X-Forwarded-Host` / `X-Original-URL`), so a redirect built on the request cannot send a
/// browser to a host the client chose; when not set, the edges make a challenge's `Location`
/// relative whenever it points at the request's own origin taken from `Host`
/// ([`relative_location`]). A host a trusted proxy reports stays (Traefik resolves a relative
/// `Location` against rewho's own address): it is the one the browser used to reach that
/// proxy, and `public_url` pins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublicUrl {
    scheme: String,
    host: String,
}

impl PublicUrl {
    /// Parses `https://app.example.org` (or `http://…`, with an optional port and a trailing
    /// `/`); empty means not set.
    pub(crate) fn parse(value: Option<&str>) -> Result<Option<PublicUrl>, InvalidProxy> {
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let bad = |reason| InvalidProxy {
            option: "public_url",
            entry: v.to_owned(),
            reason,
        };
        let (scheme, rest) = v
            .split_once("://")
            .ok_or_else(|| bad("is not a URL: write it as https://host[:port]"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(bad("must start with http:// or https://"));
        }
        let host = rest.strip_suffix('/').unwrap_or(rest);
        if host.is_empty()
            || host.contains(['/', '?', '#', '@'])
            || HeaderValue::from_str(host).is_err()
        {
            return Err(bad("must be a scheme and host only (https://host[:port])"));
        }
        Ok(Some(PublicUrl {
            scheme,
            host: host.to_owned(),
        }))
    }
}

/// Makes the `Location` of a plugin's answer relative (path and query) when it points at the
/// request's own origin `scheme://host`: that host came from the client (`Host`, or a header
/// a proxy passed on), so an absolute URL built on it could send the browser anywhere.
pub(crate) fn relative_location(headers: &mut HeaderMap, scheme: &str, host: &str) {
    let Some(location) = headers.get(http::header::LOCATION) else {
        return;
    };
    let text = header_text(location);
    let Some((s, rest)) = text.split_once("://") else {
        return;
    };
    let origin_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if !s.eq_ignore_ascii_case(scheme) || !rest[..origin_len].eq_ignore_ascii_case(host) {
        return;
    }
    let tail = &rest[origin_len..];
    let relative = if tail.starts_with('/') {
        tail.to_owned()
    } else {
        format!("/{tail}")
    };
    // `//evil` would be protocol-relative: keep a single leading slash.
    let relative = format!("/{}", relative.trim_start_matches(['/', '\\']));
    if let Ok(v) = HeaderValue::from_str(&relative) {
        headers.insert(http::header::LOCATION, v);
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
    /// `X-Forwarded-For` or `Forwarded` is present: [`TrustedProxies::client_addr`] has a
    /// chain to walk.
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
            self.forwarded_for |= name == "forwarded";
            return;
        }
        let slot = match name {
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

/// The `for=` node of each element of a `Forwarded` header (RFC 7239), in order: `None` for a
/// node that is not an address (`unknown`, `_hidden`) or an element without `for=`.
fn forwarded_for(value: &str) -> Vec<Option<IpAddr>> {
    value
        .split(',')
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                .and_then(|(_, v)| parse_hop(v.trim().trim_matches('"')))
        })
        .collect()
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
    /// The host plugins see was reported by a trusted proxy (`X-Forwarded-Host`,
    /// `X-Original-URL`) rather than taken from `Host`: a challenge's `Location` on it stays
    /// absolute, since Traefik resolves a relative one against rewho's own address.
    pub(crate) proxy_host: bool,
}

/// Builds the request plugins see from an HTTP request and its TCP peer, owned: for calls
/// that may move to another thread ([`WhoApi`](super::WhoApi)). See [`rebuild`].
pub(crate) fn snapshot(
    parts: &Parts,
    peer: Option<SocketAddr>,
    trusted: &TrustedProxies,
    public: Option<&PublicUrl>,
    mode: Rebuild,
) -> (OwnedRequest, Provenance) {
    let (req, prov) = rebuild(parts, peer, trusted, public, mode);
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
    peer_addr: String,
    client_addr: String,
    headers: Vec<(&'a str, Cow<'a, str>)>,
}

impl RebuiltRequest<'_> {
    /// The scheme plugins see.
    pub(crate) fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The host plugins see.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// An owned copy, for calls that outlive the HTTP request or move to another thread.
    pub(crate) fn into_owned(self) -> OwnedRequest {
        OwnedRequest {
            method: self.method.into_owned(),
            scheme: self.scheme.into_owned(),
            host: self.host.into_owned(),
            path: self.path.into_owned(),
            query: self.query.into_owned(),
            peer_addr: self.peer_addr,
            client_addr: self.client_addr,
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
                peer_addr: &self.peer_addr,
                client_addr: &self.client_addr,
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
    public: Option<&'a PublicUrl>,
    mode: Rebuild,
) -> (RebuiltRequest<'a>, Provenance) {
    let (mut req, prov) = rebuild_from_headers(parts, peer, trusted, mode);
    if let Some(p) = public {
        req.scheme = Cow::Borrowed(&p.scheme);
        req.host = Cow::Borrowed(&p.host);
    }
    (req, prov)
}

/// [`rebuild`] before `public_url` replaces the scheme and host.
fn rebuild_from_headers<'a>(
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
        peer_addr: peer.map(|p| ip_text(p.ip(), 0)).unwrap_or_default(),
        client_addr: String::new(),
        headers: Vec::with_capacity(headers.len()),
    };
    let mut proxy = ProxyHeaders::default();
    for (name, value) in headers {
        proxy.note(name.as_str(), value);
        req.headers.push((name.as_str(), header_text(value)));
    }
    let mut prov = Provenance::default();
    let Some(peer) = peer.map(|p| p.ip()).filter(|&p| trusted.contains(p)) else {
        req.client_addr = req.peer_addr.clone();
        return (req, prov);
    };
    prov.trusted = true;
    req.client_addr = if proxy.forwarded_for || trusted.real_ip_header.is_some() {
        ip_text(trusted.client_addr(peer, headers), 1)
    } else {
        req.peer_addr.clone()
    };
    if let Some(proto) = text(proxy.forwarded_proto) {
        let proto = narrow(proto, |p| p.split(',').next().unwrap_or("").trim());
        if proto.eq_ignore_ascii_case("http") || proto.eq_ignore_ascii_case("https") {
            req.scheme = lowercase(proto);
        }
    }
    if let Some(host) = text(proxy.forwarded_host) {
        req.host = narrow(host, |h| h.split(',').next().unwrap_or("").trim());
        prov.proxy_host = true;
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
                prov.proxy_host = true;
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
/// thread keeps the last one it formatted in each of two slots (0: peers, 1: clients), so
/// that the two kinds do not evict each other.
fn ip_text(ip: IpAddr, slot: usize) -> String {
    thread_local! {
        static LAST: std::cell::RefCell<[Option<(IpAddr, String)>; 2]> =
            const { std::cell::RefCell::new([None, None]) };
    }
    let ip = canonical_ip(ip);
    LAST.with(|last| {
        let last = &mut last.borrow_mut()[slot];
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

/// A header name as the guard compares it: ASCII lowercase with `_` read as `-`, because
/// CGI, WSGI and many frameworks turn `X_Remote_User` and `X-Remote-User` into the same
/// `HTTP_X_REMOTE_USER`.
fn normalized(name: &str) -> String {
    name.trim()
        .bytes()
        .map(|b| match b {
            b'_' => '-',
            b => char::from(b.to_ascii_lowercase()),
        })
        .collect()
}

/// Whether header name `name` (already lowercase, as `http` keeps names) is `guarded` (already
/// [`normalized`]) once normalized, without allocating.
fn same_normalized(name: &str, guarded: &str) -> bool {
    name.len() == guarded.len()
        && name
            .bytes()
            .zip(guarded.bytes())
            .all(|(a, g)| a == g || (a == b'_' && g == b'-'))
}

/// Removes from `Connection` every token `drop` picks (given lowercase), so that a hop-by-hop
/// strip further on (the reverse proxy's) cannot remove the header it names.
fn drop_connection_tokens(headers: &mut HeaderMap, drop: impl Fn(&str) -> bool) {
    let listed = headers.get_all(http::header::CONNECTION);
    let tokens = |v: &HeaderValue| -> Vec<String> {
        header_text(v)
            .split(',')
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect()
    };
    if !listed.iter().any(|v| tokens(v).iter().any(|t| drop(t))) {
        return;
    }
    let kept: Vec<String> = listed
        .iter()
        .flat_map(tokens)
        .filter(|t| !drop(t))
        .collect();
    headers.remove(http::header::CONNECTION);
    if !kept.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&kept.join(", ")) {
            headers.insert(http::header::CONNECTION, v);
        }
    }
}

/// Headers a client may send of its own that a plugin edit may also set: its own
/// credentials. Learning such a name from an edit would strip every client's copy (an API
/// client's own `Authorization` once `redis_session` has set one for somebody); the edit
/// replaces the client's copy whenever it applies, which is all the guard is for.
const NEVER_LEARNT: [&str; 2] = ["authorization", "cookie"];

/// The names of downstream headers that are stripped from every incoming request, compared
/// after ASCII case-folding and `_` → `-`: the user header, the names configured, and every
/// name a plugin edit has ever touched except [`NEVER_LEARNT`] ones (learnt as edits are
/// seen, so a header a plugin sets only for some users is stripped for all).
#[derive(Debug)]
pub(crate) struct HeaderGuard {
    names: RwLock<Vec<String>>,
}

impl HeaderGuard {
    pub(crate) fn new<S: AsRef<str>>(extra: &[S]) -> Self {
        let guard = HeaderGuard {
            names: RwLock::new(vec![REMOTE_USER_HEADER.to_owned()]),
        };
        guard.add(extra);
        guard
    }

    /// Adds header names (invalid ones are ignored).
    pub(crate) fn add<S: AsRef<str>>(&self, extra: &[S]) {
        let mut names = self.names.write().unwrap_or_else(|e| e.into_inner());
        for n in extra {
            if HeaderName::from_bytes(n.as_ref().trim().as_bytes()).is_ok() {
                let n = normalized(n.as_ref());
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
    }

    /// Records the names in `edits` so later requests strip them too.
    pub(crate) fn learn(&self, edits: &[HeaderEdit]) {
        let new: Vec<String> = {
            let names = self.names.read().unwrap_or_else(|e| e.into_inner());
            edits
                .iter()
                .filter(|e| HeaderName::from_bytes(e.name.as_bytes()).is_ok())
                .map(|e| normalized(&e.name))
                .filter(|n| !names.contains(n) && !NEVER_LEARNT.contains(&n.as_str()))
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

    /// Removes every guarded header from `headers`, whatever its case and `_`/`-` spelling,
    /// and every guarded name from `Connection`, so that a hop-by-hop strip further on
    /// cannot remove the identity headers set after this.
    pub(crate) fn strip(&self, headers: &mut HeaderMap) {
        let names = self.names.read().unwrap_or_else(|e| e.into_inner());
        let is_guarded = |n: &str| names.iter().any(|g| same_normalized(n, g));
        let doomed: Vec<HeaderName> = headers
            .keys()
            .filter(|n| is_guarded(n.as_str()))
            .cloned()
            .collect();
        for n in doomed {
            headers.remove(n);
        }
        drop_connection_tokens(headers, |t| is_guarded(t));
    }

    /// The guarded names, normalized.
    pub(crate) fn names(&self) -> Vec<String> {
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
    /// Strips guarded headers from `headers`, then sets the user header and, only when a user
    /// was authenticated, the edits: an edit made for a request nobody authenticated (a
    /// session id planted in a store, a token that did not verify) must not reach the
    /// application.
    pub(crate) fn apply(&self, guard: &HeaderGuard, headers: &mut HeaderMap) {
        guard.learn(&self.edits);
        guard.strip(headers);
        let Some(userid) = &self.userid else {
            // Only edits the plugin marked unconditional (`set_downstream_header_always`).
            for edit in self.edits.iter().filter(|e| e.always) {
                apply_edit(edit, headers);
            }
            return;
        };
        match HeaderValue::from_str(userid) {
            Ok(v) => {
                headers.insert(HeaderName::from_static(REMOTE_USER_HEADER), v);
            }
            Err(_) => tracing::warn!(
                target: "rewho::edge",
                "user id is not a valid header value; X-Remote-User not sent"
            ),
        }
        drop_connection_tokens(headers, |t| {
            self.edits
                .iter()
                .any(|e| same_normalized(t, &normalized(&e.name)))
        });
        for edit in &self.edits {
            apply_edit(edit, headers);
        }
    }
}

/// Sets or removes one plugin edit's header (an invalid name or value is logged, not sent).
fn apply_edit(edit: &HeaderEdit, headers: &mut HeaderMap) {
    let Ok(name) = HeaderName::from_bytes(edit.name.as_bytes()) else {
        tracing::warn!(target: "rewho::edge", header = %edit.name, "invalid header name in a plugin edit");
        return;
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
        let (r, prov) = snapshot(&p, Some(local), &trusted, None, Rebuild::ForwardAuth);
        assert!(prov.trusted && prov.nginx);
        assert_eq!(
            (r.method.as_str(), r.scheme.as_str(), r.host.as_str()),
            ("POST", "https", "app.example")
        );
        assert_eq!(
            (r.path.as_str(), r.query.as_str()),
            ("/private/page", "a=1")
        );
        assert_eq!(r.client_addr, "203.0.113.9");

        let outsider: SocketAddr = "198.51.100.1:5000".parse().unwrap();
        let (r, prov) = snapshot(&p, Some(outsider), &trusted, None, Rebuild::ForwardAuth);
        assert!(!prov.trusted);
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("GET", "/_rewho/auth")
        );
        assert_eq!(
            (r.host.as_str(), r.client_addr.as_str()),
            ("rewho:8080", "198.51.100.1")
        );

        // Direct mode never takes the method or path from headers.
        let (r, _) = snapshot(&p, Some(local), &trusted, None, Rebuild::Direct);
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
        let (r, _) = snapshot(&p, Some(local), &trusted, None, Rebuild::ForwardAuth);
        assert_eq!(
            r.scheme, "https",
            "the first value, as HeaderMap::get gives it"
        );
        assert_eq!(r.path, "/_rewho/auth", "a blank first value means none");
        assert_eq!(
            r.client_addr, "198.51.100.7",
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
            None,
            Rebuild::ForwardAuth,
        );
        assert!(!prov.nginx);
        assert_eq!(r.method, "DELETE");
        assert_eq!(r.host, "h.example:8443");
        assert_eq!((r.path.as_str(), r.query.as_str()), ("/x", "y"));
        assert_eq!(r.client_addr, "192.0.2.1");
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
        let (borrowed, prov) = rebuild(&p, Some(local), &trusted, None, Rebuild::ForwardAuth);
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
        let (r, _) = snapshot(&p, Some(local), &trusted, None, Rebuild::ForwardAuth);
        assert_eq!(
            (r.path.as_str(), r.query.as_str(), r.host.as_str()),
            ("/page", "x=1", "h1")
        );
    }

    /// The one client-address rule, row by row: (peer, trusted networks, real_ip_header,
    /// headers, the client it must derive).
    #[test]
    fn client_address_rule() {
        type Row<'a> = (
            &'a str,
            &'a [&'a str],
            &'a str,
            &'a [(&'a str, &'a str)],
            &'a str,
        );
        let rows: &[Row<'_>] = &[
            // An untrusted peer: nothing it sends is believed.
            (
                "203.0.113.5",
                &[],
                "",
                &[("x-forwarded-for", "10.9.9.9")],
                "203.0.113.5",
            ),
            (
                "203.0.113.5",
                &[],
                "",
                &[("x-real-ip", "127.0.0.1")],
                "203.0.113.5",
            ),
            (
                "203.0.113.5",
                &[],
                "x-real-ip",
                &[("x-real-ip", "127.0.0.1")],
                "203.0.113.5",
            ),
            (
                "203.0.113.5",
                &[],
                "",
                &[("forwarded", "for=127.0.0.1")],
                "203.0.113.5",
            ),
            // A trusted peer without headers: the peer itself.
            ("127.0.0.1", &[], "", &[], "127.0.0.1"),
            // X-Real-IP is not read unless real_ip_header names it (issue 19, row 1).
            (
                "127.0.0.1",
                &[],
                "",
                &[
                    ("x-real-ip", "127.0.0.1"),
                    ("x-forwarded-for", "10.213.0.2"),
                ],
                "10.213.0.2",
            ),
            (
                "127.0.0.1",
                &[],
                "",
                &[("x-real-ip", "10.9.9.9")],
                "127.0.0.1",
            ),
            (
                "127.0.0.1",
                &[],
                "x-real-ip",
                &[("x-real-ip", "10.9.9.9"), ("x-forwarded-for", "1.2.3.4")],
                "10.9.9.9",
            ),
            (
                "127.0.0.1",
                &[],
                "X-Client-IP",
                &[("x-client-ip", " 10.9.9.8 ")],
                "10.9.9.8",
            ),
            (
                "127.0.0.1",
                &[],
                "x-real-ip",
                &[("x-real-ip", "junk"), ("x-forwarded-for", "1.2.3.4")],
                "1.2.3.4",
            ),
            // The right-most hop that is not a trusted proxy; forged hops to its left do not count.
            (
                "127.0.0.1",
                &[],
                "",
                &[("x-forwarded-for", "127.0.0.1, 10.213.0.2")],
                "10.213.0.2",
            ),
            (
                "127.0.0.1",
                &["10.0.0.0/8"],
                "",
                &[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.3")],
                "198.51.100.7",
            ),
            (
                "10.0.0.2",
                &["10.0.0.0/8"],
                "",
                &[
                    ("x-forwarded-for", "198.51.100.7"),
                    ("x-forwarded-for", "10.0.0.9"),
                ],
                "198.51.100.7",
            ),
            // All hops trusted: the left-most, which a trusted hop vouched for.
            (
                "127.0.0.1",
                &["10.0.0.0/8"],
                "",
                &[("x-forwarded-for", "10.1.1.1, 10.2.2.2")],
                "10.1.1.1",
            ),
            // Ports, brackets, IPv4-mapped IPv6.
            (
                "::1",
                &[],
                "",
                &[("x-forwarded-for", "[2001:db8::7]:4711")],
                "2001:db8::7",
            ),
            (
                "::ffff:127.0.0.1",
                &[],
                "",
                &[("x-forwarded-for", "192.0.2.1:80")],
                "192.0.2.1",
            ),
            (
                "127.0.0.1",
                &[],
                "",
                &[("x-forwarded-for", "::ffff:192.0.2.9")],
                "192.0.2.9",
            ),
            // A hop that is not an address ends the walk at the last trusted one.
            (
                "127.0.0.1",
                &["10.0.0.0/8"],
                "",
                &[("x-forwarded-for", "6.6.6.6, unknown, 10.0.0.3")],
                "10.0.0.3",
            ),
            (
                "127.0.0.1",
                &[],
                "",
                &[("x-forwarded-for", "")],
                "127.0.0.1",
            ),
            // RFC 7239 Forwarded, when there is no X-Forwarded-For.
            (
                "127.0.0.1",
                &[],
                "",
                &[("forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43")],
                "192.0.2.60",
            ),
            (
                "127.0.0.1",
                &["10.0.0.0/8"],
                "",
                &[(
                    "forwarded",
                    "for=6.6.6.6, for=\"[2001:db8:cafe::17]:4711\", For=10.0.0.1",
                )],
                "2001:db8:cafe::17",
            ),
            (
                "127.0.0.1",
                &[],
                "",
                &[("forwarded", "for=_hidden, for=unknown")],
                "127.0.0.1",
            ),
            (
                "127.0.0.1",
                &[],
                "",
                &[
                    ("forwarded", "for=6.6.6.6"),
                    ("x-forwarded-for", "192.0.2.4"),
                ],
                "192.0.2.4",
            ),
        ];
        for (peer, nets, real_ip, headers, want) in rows {
            let trusted = TrustedProxies::parse(nets)
                .unwrap()
                .with_real_ip_header(real_ip)
                .unwrap();
            let mut map = HeaderMap::new();
            for (n, v) in *headers {
                map.append(
                    HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            let got = trusted.client_addr(peer.parse().unwrap(), &map);
            assert_eq!(
                got.to_string(),
                *want,
                "peer {peer}, trusted {nets:?}, real_ip_header {real_ip:?}, {headers:?}"
            );
            // The edges agree with the rule, and keep the peer beside it.
            let mut b = http::Request::builder().uri("/");
            for (n, v) in *headers {
                b = b.header(*n, *v);
            }
            let p = b.body(()).unwrap().into_parts().0;
            let sock = SocketAddr::new(peer.parse().unwrap(), 1);
            let (r, _) = snapshot(&p, Some(sock), &trusted, None, Rebuild::ForwardAuth);
            assert_eq!(r.client_addr, *want, "{headers:?}");
            assert_eq!(r.peer_addr, canonical_ip(sock.ip()).to_string());
        }
        assert!(TrustedProxies::loopback()
            .with_real_ip_header("bad name")
            .is_err());
    }

    #[test]
    fn public_url_replaces_the_client_host_and_locations_become_relative() {
        assert_eq!(PublicUrl::parse(None), Ok(None));
        assert_eq!(PublicUrl::parse(Some(" ")), Ok(None));
        let public = PublicUrl::parse(Some("HTTPS://app.example.org:8443/"))
            .unwrap()
            .unwrap();
        for bad in [
            "app.example.org",
            "ftp://x",
            "https://",
            "https://h/path",
            "https://u@h",
        ] {
            assert!(PublicUrl::parse(Some(bad)).is_err(), "{bad}");
        }
        let p = parts(
            "/x",
            &[
                ("host", "evil.example"),
                ("x-forwarded-host", "evil2.example"),
            ],
        );
        let local: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let trusted = TrustedProxies::loopback();
        let (r, _) = snapshot(&p, Some(local), &trusted, Some(&public), Rebuild::Direct);
        assert_eq!(
            (r.scheme.as_str(), r.host.as_str()),
            ("https", "app.example.org:8443")
        );

        let rel = |loc: &str| {
            let mut h = HeaderMap::new();
            h.insert(http::header::LOCATION, HeaderValue::from_str(loc).unwrap());
            relative_location(&mut h, "http", "evil.example");
            h[http::header::LOCATION].to_str().unwrap().to_owned()
        };
        assert_eq!(
            rel("http://evil.example/_rewho/login?came_from=x"),
            "/_rewho/login?came_from=x"
        );
        assert_eq!(rel("http://EVIL.example?x=1"), "/?x=1");
        assert_eq!(
            rel("http://evil.example//other.example/"),
            "/other.example/"
        );
        assert_eq!(
            rel("https://sso.example/login"),
            "https://sso.example/login"
        );
        assert_eq!(
            rel("http://evil.example.other/"),
            "http://evil.example.other/"
        );
        assert_eq!(rel("/already"), "/already");
    }

    #[test]
    fn guard_compares_normalized_names_and_keeps_identity_out_of_connection() {
        let guard = HeaderGuard::new(&["X-Groups"]);
        let mut h = HeaderMap::new();
        for n in [
            "x_remote_user",
            "X-REMOTE_USER",
            "x_groups",
            "authorization",
        ] {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                "evil".parse().unwrap(),
            );
        }
        h.insert(
            "connection",
            "keep-alive, X-Remote-User, x_groups, te".parse().unwrap(),
        );
        let adm = Admission {
            userid: Some("alice".into()),
            edits: vec![HeaderEdit {
                name: "Authorization".into(),
                value: abi_stable::std_types::ROption::RSome("Bearer t".into()),
                always: false,
            }],
        };
        adm.apply(&guard, &mut h);
        assert_eq!(h["x-remote-user"], "alice");
        assert_eq!(h["authorization"], "Bearer t");
        assert_eq!(h["connection"], "keep-alive, te");
        assert_eq!(h.len(), 3, "{h:?}");
        // An edit's Authorization is not learnt: a later client's own passes.
        let mut later = HeaderMap::new();
        later.insert("authorization", "Basic abc".parse().unwrap());
        later.insert("connection", "authorization".parse().unwrap());
        Admission::default().apply(&guard, &mut later);
        assert_eq!(later["authorization"], "Basic abc");
        // Edits never apply to a request nobody authenticated.
        let mut anon = HeaderMap::new();
        Admission {
            userid: None,
            edits: adm.edits.clone(),
        }
        .apply(&guard, &mut anon);
        assert!(anon.is_empty(), "{anon:?}");
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

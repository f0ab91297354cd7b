//! Entry points for the cargo-fuzz targets in `fuzz/`: thin wrappers over crate-private
//! code that the targets must reach. Not a stable API (hidden from the docs); the edges
//! themselves call the wrapped functions directly.

use std::net::SocketAddr;

use crate::middleware::{snapshot, Rebuild, TrustedProxies};
use crate::OwnedRequest;

/// The request a forward-auth call (`GET /_rewho/auth`) asks about, rebuilt from the
/// `X-Original-*` / `X-Forwarded-*` headers of `parts` when `peer` is a trusted proxy: exactly
/// what `rewho serve` hands to the plugins. Returns the request and whether the peer was
/// trusted.
pub fn forward_auth_request(
    parts: &http::request::Parts,
    peer: Option<SocketAddr>,
    trusted: &TrustedProxies,
) -> (OwnedRequest, bool) {
    let (req, prov) = snapshot(parts, peer, trusted, None, Rebuild::ForwardAuth);
    (req, prov.trusted)
}

/// The same for a request the tower layer or the reverse proxy authenticates directly
/// (`X-Forwarded-Proto/Host/For` only; method and path are never taken from headers).
pub fn direct_request(
    parts: &http::request::Parts,
    peer: Option<SocketAddr>,
    trusted: &TrustedProxies,
) -> (OwnedRequest, bool) {
    let (req, prov) = snapshot(parts, peer, trusted, None, Rebuild::Direct);
    (req, prov.trusted)
}

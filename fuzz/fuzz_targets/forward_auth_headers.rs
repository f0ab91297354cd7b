//! Forward-auth requests (`X-Original-*`, `X-Forwarded-*`, `X-Real-IP`, Host) → the request
//! `rewho serve` rebuilds for the plugins. Nothing may panic; an untrusted peer's headers
//! must change nothing; the rebuilt path always starts with `/`.
#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use rewho::fuzzing::{direct_request, forward_auth_request};
use rewho::TrustedProxies;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let peer: SocketAddr = match selector % 4 {
        0 => "127.0.0.1:40000".parse().unwrap(),
        1 => "[::ffff:10.1.2.3]:40000".parse().unwrap(),
        2 => "[fd00::7]:40000".parse().unwrap(),
        _ => "198.51.100.7:40000".parse().unwrap(),
    };
    let trusted = TrustedProxies::parse(&["10.0.0.0/8", "fd00::/8"]).unwrap();
    // Each line is `name: value`; lines that are not valid HTTP headers are dropped, as hyper
    // would refuse them.
    let mut builder = http::Request::builder().uri("/_rewho/auth");
    for line in rest.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name),
            http::HeaderValue::from_bytes(value.trim_ascii()),
        ) else {
            continue;
        };
        builder = builder.header(name, value);
    }
    let Ok(request) = builder.body(()) else {
        return;
    };
    let (parts, ()) = request.into_parts();
    let (fa, fa_trusted) = forward_auth_request(&parts, Some(peer), &trusted);
    let (direct, direct_trusted) = direct_request(&parts, Some(peer), &trusted);
    assert_eq!(fa_trusted, selector % 4 != 3);
    assert_eq!(fa_trusted, direct_trusted);
    assert!(fa.path.starts_with('/'), "{:?}", fa.path);
    assert!(!fa.path.contains('?'), "{:?}", fa.path);
    assert_eq!(
        direct.path, "/_rewho/auth",
        "direct mode never takes the path from headers"
    );
    assert_eq!(direct.method, "GET");
    assert!(matches!(direct.scheme.as_str(), "http" | "https"));
    if !fa_trusted {
        assert_eq!(fa.method, "GET");
        assert_eq!(fa.path, "/_rewho/auth");
        assert_eq!(fa.query, "");
        assert_eq!(fa.scheme, "http");
        assert_eq!(fa.client_addr, "198.51.100.7");
    }
});

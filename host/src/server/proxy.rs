//! The application behind [`WhoService`](crate::WhoService) in `rewho serve`: a streaming
//! reverse proxy to `--upstream`, or the built-in demo page.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use http::header::{HeaderName, HeaderValue, HOST};
use http::{HeaderMap, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use super::pages;
use crate::WhoApi;

/// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1), and the credentials a
/// client meant for a proxy.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in listed {
        headers.remove(n);
    }
    for n in HOP_BY_HOP {
        headers.remove(n);
    }
}

/// Whether `name` (lowercase) tells the upstream where a request came from or what it asked
/// for, read with `_` as `-`: `X-Forwarded-*`, `X-Original-*`, `X-Real-IP`, `Forwarded`.
/// Clients' copies never pass; rewho sets the ones it knows.
fn describes_origin(name: &str) -> bool {
    let n = name.replace('_', "-");
    n.starts_with("x-forwarded-")
        || n.starts_with("x-original-")
        || n == "x-real-ip"
        || n == "forwarded"
}

/// Replaces every header of [`describes_origin`] with what rewho knows of `request`: the
/// client address the one rule derived, the scheme and host plugins saw.
fn set_origin_headers(headers: &mut HeaderMap, request: Option<&crate::OwnedRequest>) {
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|n| describes_origin(n.as_str()))
        .cloned()
        .collect();
    for n in doomed {
        headers.remove(n);
    }
    let Some(r) = request else { return };
    let client = r.client_addr.as_str();
    let node = if client.contains(':') {
        format!("\"[{client}]\"")
    } else {
        client.to_owned()
    };
    let forwarded = format!("for={node};proto={};host=\"{}\"", r.scheme, r.host);
    for (name, value) in [
        ("x-forwarded-for", client),
        ("x-real-ip", client),
        ("x-forwarded-proto", r.scheme.as_str()),
        ("x-forwarded-host", r.host.as_str()),
        ("forwarded", forwarded.as_str()),
    ] {
        if value.is_empty() {
            continue;
        }
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
}

/// A streaming reverse proxy to one upstream base URL.
#[derive(Clone)]
pub(crate) struct Proxy {
    client: Client<HttpConnector, Body>,
    base: Arc<Uri>,
}

impl Proxy {
    /// `upstream` is `http://host:port` with an optional base path.
    pub(crate) fn new(upstream: &str) -> Result<Proxy, String> {
        let base: Uri = upstream
            .parse()
            .map_err(|e| format!("--upstream {upstream:?}: {e}"))?;
        if base.scheme_str() != Some("http") || base.authority().is_none() {
            return Err(format!(
                "--upstream {upstream:?}: give an http:// URL with a host (TLS to the upstream is \
                 not supported; terminate TLS in front of rewho instead)"
            ));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Proxy {
            client,
            base: Arc::new(base),
        })
    }

    fn target(&self, uri: &Uri) -> Result<Uri, http::Error> {
        let base_path = self.base.path().trim_end_matches('/');
        let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
        Uri::builder()
            .scheme("http")
            .authority(self.base.authority().map_or("", |a| a.as_str()))
            .path_and_query(format!("{base_path}{pq}"))
            .build()
    }

    /// Forwards `req` (headers already carry the identity), streaming both bodies.
    pub(crate) async fn forward(&self, req: Request<Body>) -> Response<Body> {
        let (mut parts, body) = req.into_parts();
        let who = parts.extensions.get::<WhoApi>().map(WhoApi::request);
        let target = match self.target(&parts.uri) {
            Ok(t) => t,
            Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("bad request target: {e}")),
        };
        // The layer already took guarded names (the identity headers it set) out of
        // `Connection`, so this cannot remove them.
        strip_hop_by_hop(&mut parts.headers);
        set_origin_headers(&mut parts.headers, who.as_deref());
        if let Some(authority) = self.base.authority() {
            if let Ok(v) = HeaderValue::from_str(authority.as_str()) {
                parts.headers.insert(HOST, v);
            }
        }
        parts.uri = target;
        parts.version = http::Version::HTTP_11;
        let outgoing = Request::from_parts(parts, body);
        match self.client.request(outgoing).await {
            Ok(resp) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, Body::new(body))
            }
            Err(e) => {
                tracing::warn!(target: "rewho::proxy", error = %e, "upstream request failed");
                plain(
                    StatusCode::BAD_GATEWAY,
                    "the upstream application is not reachable\n",
                )
            }
        }
    }
}

pub(crate) fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(text.to_owned()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

pub(crate) fn html(status: StatusCode, text: String) -> Response<Body> {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    r
}

/// The built-in application without `--upstream`: signed-in users see their identity and the
/// headers an upstream would get; anonymous requests get 401, which the layer challenges.
pub(crate) async fn demo(req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let Some(api) = req.extensions().get::<WhoApi>().cloned() else {
        return Ok(plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "WhoLayer missing\n",
        ));
    };
    let Some(identity) = api.identity() else {
        return Ok(plain(StatusCode::UNAUTHORIZED, "Not logged in.\n"));
    };
    // Borrowing the Api makes no plugin call: fine on a worker thread.
    let edited: Vec<String> = api.with(|a| {
        a.environ()
            .downstream_edits()
            .iter()
            .map(|e| e.name.to_string())
            .collect()
    });
    let guarded: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter(|(n, _)| {
            n.as_str() == crate::REMOTE_USER_HEADER
                || edited.iter().any(|e| e.eq_ignore_ascii_case(n.as_str()))
        })
        .map(|(n, v)| {
            (
                n.to_string(),
                crate::middleware::header_text(v).into_owned(),
            )
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        pages::demo_page(&identity, &api.request(), &guarded),
    ))
}

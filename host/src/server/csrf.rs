//! Cross-site request forgery defences for the login and logout forms.
//!
//! - **Fetch metadata and `Origin`.** A `POST` whose `Sec-Fetch-Site` is anything but
//!   `same-origin` or `none` (typed by the user), or whose `Origin` is `null` or not the
//!   request's own scheme and host (as rebuilt from trusted proxies), is refused. Every current
//!   browser sends one or both on a cross-site form post, so this alone stops login CSRF.
//! - **A double-submit token.** The form page sets a random token in the `rewho_csrf` cookie
//!   (`HttpOnly`, `SameSite=Strict`, path `/_rewho/`, `Secure` over https) and in a hidden
//!   field; a post from a browser (one that sends `Origin` or `Sec-Fetch-*`) must carry both,
//!   equal (compared in constant time). A cross-site page can neither read the cookie nor set
//!   it, and a `SameSite=Strict` cookie is not sent with its post. Clients that send no fetch
//!   metadata at all (scripts, `curl`) are not asked for the token: no browser a CSRF page
//!   could drive omits both headers on a cross-site post.

use http::HeaderMap;
use rand::RngCore;

use crate::OwnedRequest;

/// The cookie holding the token.
pub(crate) const COOKIE: &str = "rewho_csrf";

/// A new random token (32 bytes, hex).
pub(crate) fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The token in the request's `rewho_csrf` cookie, if it looks like one of ours.
pub(crate) fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value carrying `token`.
pub(crate) fn set_cookie(token: &str, https: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/_rewho/; HttpOnly; SameSite=Strict{}",
        if https { "; Secure" } else { "" }
    )
}

/// Why a post is refused, or `None` when it may go on. `form_token` is the hidden field.
pub(crate) fn refuse(
    headers: &HeaderMap,
    request: &OwnedRequest,
    form_token: &str,
) -> Option<&'static str> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let site = text("sec-fetch-site");
    if let Some(site) = site {
        if !matches!(site.trim(), "same-origin" | "none") {
            return Some("cross-site request (Sec-Fetch-Site)");
        }
    }
    let origin = text("origin");
    if let Some(origin) = origin {
        let own = format!("{}://{}", request.scheme, request.host);
        if !origin.trim().eq_ignore_ascii_case(&own) {
            return Some("cross-site request (Origin)");
        }
    }
    if site.is_none() && origin.is_none() {
        return None;
    }
    match cookie_token(headers) {
        Some(c) if rewho_plugin_api::constant_time_eq(c.as_bytes(), form_token.as_bytes()) => None,
        _ => Some("missing or stale form token"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> OwnedRequest {
        let mut r = OwnedRequest::get("/_rewho/login").method("POST");
        r.host = "app.test".into();
        r
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn cross_site_posts_are_refused_and_same_origin_ones_need_the_token() {
        let t = new_token();
        let cookie = format!("{COOKIE}={t}");
        let r = req();
        assert!(refuse(&headers(&[("sec-fetch-site", "cross-site")]), &r, &t).is_some());
        assert!(refuse(&headers(&[("sec-fetch-site", "same-site")]), &r, &t).is_some());
        assert!(refuse(&headers(&[("origin", "https://evil.test")]), &r, &t).is_some());
        assert!(refuse(&headers(&[("origin", "null")]), &r, &t).is_some());
        let same = [("origin", "http://app.test"), ("cookie", cookie.as_str())];
        assert_eq!(refuse(&headers(&same), &r, &t), None);
        assert!(
            refuse(&headers(&same), &r, &new_token()).is_some(),
            "wrong token"
        );
        assert!(
            refuse(&headers(&[("origin", "http://app.test")]), &r, &t).is_some(),
            "no cookie"
        );
        assert_eq!(
            refuse(&headers(&[]), &r, ""),
            None,
            "no fetch metadata: a script"
        );
    }

    #[test]
    fn only_well_formed_tokens_are_read_back() {
        let t = new_token();
        let h = headers(&[("cookie", &format!("a=b; {COOKIE}={t}; c=d"))]);
        assert_eq!(cookie_token(&h), Some(t));
        let h = headers(&[("cookie", &format!("{COOKIE}=short"))]);
        assert_eq!(cookie_token(&h), None);
        assert!(set_cookie("x", true).ends_with("; Secure"));
    }
}

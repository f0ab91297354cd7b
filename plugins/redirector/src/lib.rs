//! `redirector`: repoze.who's `RedirectorPlugin`, a challenger that sends the browser to a
//! login page with a `302 Found`.
//!
//! ```ini
//! [plugin:redirector]
//! use = redirector
//! login_url = /_rewho/login
//! came_from_param = came_from
//! reason_param = reason
//! reason_header = X-Authorization-Failure-Reason
//! ```
//!
//! | option | default | meaning |
//! | --- | --- | --- |
//! | `login_url` | — (required) | where to send the browser |
//! | `came_from_param` | none | query parameter that carries the URL the client asked for |
//! | `reason_param` | none | query parameter that carries the application's reason |
//! | `reason_header` | `X-Authorization-Failure-Reason` when `reason_param` is set | application response header holding the reason; setting it without `reason_param` is an error |
//!
//! When either parameter is set, the login URL's own query is parsed as Python's `parse_qs`
//! does (blank values dropped, repeated names kept together), the reason (if the application
//! sent a non-empty one) and the original request URL are set in it, and it is re-encoded
//! with `urlencode(…, doseq=True)`; otherwise the login URL is used as written. The original
//! URL is built as wsgiref's `request_uri` builds it. A relative `Location` is made absolute
//! against the request, as webob does (`//host` never becomes protocol-relative).
//!
//! The response carries the forget headers, then the application's `Set-Cookie` headers, then
//! `Location`, in webob's order, with webob's plain-text body.
//!
//! `came_from` is the URL this very request asked for, so it points at this site; whatever
//! consumes it after login (the host's login form) must still check it, since a client can
//! send any `came_from` there.
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

pub mod url;

use rewho_plugin_api::{
    Challenger, Environ, FactoryContext, HeaderField, Plugin, PluginError, Request, Response,
};
use serde::Deserialize;

use crate::url::SplitUrl;

/// The reason header repoze.who uses when only `reason_param` is set.
pub const DEFAULT_REASON_HEADER: &str = "X-Authorization-Failure-Reason";

/// Options of the `redirector` plugin (repoze.who's `make_plugin` arguments).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The login page.
    login_url: String,
    /// Query parameter for the original URL.
    came_from_param: Option<String>,
    /// Query parameter for the application's reason.
    reason_param: Option<String>,
    /// Response header holding the reason.
    reason_header: Option<String>,
}

/// The plugin.
#[derive(Debug)]
pub struct Redirector {
    login_url: String,
    login_parts: SplitUrl,
    came_from_param: Option<String>,
    /// `(reason_param, reason_header)`: both or neither.
    reason: Option<(String, String)>,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl Redirector {
    /// Builds the plugin, with repoze.who's `make_plugin` rules for the option pairs.
    pub fn new(
        login_url: &str,
        came_from_param: Option<String>,
        reason_param: Option<String>,
        reason_header: Option<String>,
    ) -> Result<Redirector, PluginError> {
        let login_url = login_url.trim();
        if login_url.is_empty() {
            return Err("`login_url` must not be empty".into());
        }
        if login_url.chars().any(char::is_control) {
            return Err("`login_url` must not contain control characters".into());
        }
        let reason = match (non_empty(reason_param), non_empty(reason_header)) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err("`reason_header` needs `reason_param` as well".into());
            }
            (Some(param), header) => Some((
                param,
                header.unwrap_or_else(|| DEFAULT_REASON_HEADER.to_owned()),
            )),
        };
        Ok(Redirector {
            login_url: login_url.to_owned(),
            login_parts: SplitUrl::parse(login_url),
            came_from_param: non_empty(came_from_param),
            reason,
        })
    }

    /// The `Location` for a challenge of `req`, given the application's headers.
    pub fn location(&self, req: &Request<'_>, app_headers: &[HeaderField]) -> String {
        let target = if self.came_from_param.is_none() && self.reason.is_none() {
            self.login_url.clone()
        } else {
            let mut query = url::parse_qs(&self.login_parts.query);
            if let Some((param, header)) = &self.reason {
                let reason = app_headers
                    .iter()
                    .find(|h| h.name.as_str().eq_ignore_ascii_case(header))
                    .map(|h| h.value.as_str())
                    .unwrap_or("");
                if !reason.is_empty() {
                    url::set_param(&mut query, param, reason.to_owned());
                }
            }
            if let Some(param) = &self.came_from_param {
                let came_from = url::request_uri(req.scheme(), req.host(), req.path(), req.query());
                url::set_param(&mut query, param, came_from);
            }
            self.login_parts.join(&url::urlencode(&query))
        };
        url::absolute_location(&target, req.scheme(), req.host(), req.path())
    }
}

impl Plugin for Redirector {
    type Options = Options;
    const SUMMARY: &'static str = "302 redirect to a login page: challenger";

    fn new(o: Options, _ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        Redirector::new(
            &o.login_url,
            o.came_from_param,
            o.reason_param,
            o.reason_header,
        )
    }
}

// IChallenger
impl Challenger for Redirector {
    fn challenge(
        &self,
        req: &Request<'_>,
        _env: &mut Environ,
        _status: u16,
        app_headers: &[HeaderField],
        forget_headers: &[HeaderField],
    ) -> Result<Option<Response>, PluginError> {
        let location = self.location(req, app_headers);
        let mut response = Response::new(302);
        response.headers.extend(forget_headers.iter().cloned());
        response.headers.extend(
            app_headers
                .iter()
                .filter(|h| h.name.as_str().eq_ignore_ascii_case("set-cookie"))
                .cloned(),
        );
        let body = format!(
            "302 Found\n\nThe resource was found at {location}; you should be redirected automatically.  "
        );
        Ok(Some(
            response
                .with_header("Location", location)
                .with_header("Content-Type", "text/plain; charset=UTF-8")
                .with_body(body),
        ))
    }
}

rewho_plugin_api::export_plugin! {
    "redirector" => Redirector: [challenger],
}

#[cfg(test)]
mod tests {
    use super::*;
    use rewho_plugin_api::state::RequestParts;
    use rewho_plugin_api::testing::{environ, view};

    fn req<'a>(host: &'a str, path: &'a str, query: &'a str) -> Request<'a> {
        view(RequestParts {
            method: "GET",
            scheme: "http",
            host,
            path,
            query,
            peer_addr: "127.0.0.1",
            client_addr: "127.0.0.1",
            headers: &[],
        })
    }

    fn plugin(url: &str, came_from: Option<&str>, reason: Option<&str>) -> Redirector {
        Redirector::new(
            url,
            came_from.map(str::to_owned),
            reason.map(str::to_owned),
            None,
        )
        .unwrap()
    }

    #[test]
    fn matches_repoze_location_and_headers() {
        // repoze.who 3.1.0 + webob, same request and headers:
        // Location: https://auth.example.com/login?next=1&x=a+b&x=c&reason=bad+pw+%26+more&came_from=http%3A%2F%2Fapp.example.com%3A8080%2Fa%2520b%2Fc%2540d%3Fq%3D1%26r%3D%2541#frag
        let p = plugin(
            "https://auth.example.com/login?next=1&blank=&x=a+b&x=c#frag",
            Some("came_from"),
            Some("reason"),
        );
        let r = req("app.example.com:8080", "/a%20b/c@d", "q=1&r=%41");
        let app = [
            HeaderField::new("X-Authorization-Failure-Reason", "bad pw & more"),
            HeaderField::new("Set-Cookie", "k=v"),
        ];
        let forget = [HeaderField::new("Set-Cookie", "auth_tkt=INVALID")];
        let resp = p
            .challenge(&r, &mut environ(), 401, &app, &forget)
            .unwrap()
            .unwrap();
        assert_eq!(resp.status, 302);
        let headers: Vec<(&str, &str)> = resp
            .headers
            .iter()
            .map(|h| (h.name.as_str(), h.value.as_str()))
            .collect();
        let location = "https://auth.example.com/login?next=1&x=a+b&x=c&reason=bad+pw+%26+more&came_from=http%3A%2F%2Fapp.example.com%3A8080%2Fa%2520b%2Fc%2540d%3Fq%3D1%26r%3D%2541#frag";
        assert_eq!(
            headers,
            [
                ("Set-Cookie", "auth_tkt=INVALID"),
                ("Set-Cookie", "k=v"),
                ("Location", location),
                ("Content-Type", "text/plain; charset=UTF-8"),
            ]
        );
        assert_eq!(
            String::from_utf8(resp.body.to_vec()).unwrap(),
            format!("302 Found\n\nThe resource was found at {location}; you should be redirected automatically.  ")
        );
    }

    #[test]
    fn parameters_follow_repoze_rules() {
        let r = req("www.example.com", "/", "default=1");
        // Neither parameter: the login URL as written.
        let p = plugin("http://example.com/login.html?blank=", None, None);
        assert_eq!(p.location(&r, &[]), "http://example.com/login.html?blank=");
        let p = plugin("http://example.com/login.html", Some("came_from"), None);
        assert_eq!(
            p.location(&r, &[]),
            "http://example.com/login.html?came_from=http%3A%2F%2Fwww.example.com%2F%3Fdefault%3D1"
        );
        // A reason param without an app reason adds nothing; the default header name is used.
        let p = plugin("http://example.com/login.html", None, Some("reason"));
        assert_eq!(p.location(&r, &[]), "http://example.com/login.html");
        let app = [HeaderField::new(
            "x-authorization-failure-reason",
            "you are ugly",
        )];
        assert_eq!(
            p.location(&r, &app),
            "http://example.com/login.html?reason=you+are+ugly"
        );
        // A custom header, and a login URL that already has the parameter.
        let p = Redirector::new(
            "/login?came_from=old&reason=x",
            Some("came_from".into()),
            Some("reason".into()),
            Some("X-Why".into()),
        )
        .unwrap();
        let app = [HeaderField::new("X-Why", "expired")];
        assert_eq!(
            p.location(&r, &app),
            "http://www.example.com/login?came_from=http%3A%2F%2Fwww.example.com%2F%3Fdefault%3D1&reason=expired"
        );
    }

    #[test]
    fn options_are_checked() {
        assert!(Redirector::new("", None, None, None).is_err());
        assert!(Redirector::new("/login", None, None, Some("X-Why".into())).is_err());
        assert!(Redirector::new("/lo\ngin", None, None, None).is_err());
        let p = Redirector::new("/login", None, Some("r".into()), None).unwrap();
        assert_eq!(
            p.reason,
            Some(("r".to_owned(), DEFAULT_REASON_HEADER.to_owned()))
        );
        assert!(rewho_plugin_api::from_options::<Options>("r", []).is_err());
        assert!(rewho_plugin_api::from_options::<Options>(
            "r",
            [("login_url", "/x"), ("came_from", "c")]
        )
        .is_err());
    }

    #[test]
    fn protocol_relative_login_urls_stay_on_site() {
        let p = plugin("//evil.example/login", Some("came_from"), None);
        let r = req("app.example", "/secret", "");
        assert!(p
            .location(&r, &[])
            .starts_with("http://app.example/%2fevil.example/login?came_from="));
    }
}

//! `basicauth`: HTTP Basic authentication as repoze.who's `BasicAuthPlugin` does it, an
//! identifier and a challenger.
//!
//! ```ini
//! [plugin:basicauth]
//! use = basicauth
//! realm = My Site
//! ```
//!
//! - **identify** reads `Authorization: Basic …` and returns `{login, password}` (see
//!   [`basic::parse_basic`] for the exact rules: lenient base64 like Python's
//!   `base64.decodebytes`, UTF-8 with a latin-1 fallback, `None` on bad base64 or a missing
//!   `:`). The password stays in the identity for an authenticator such as `htpasswd`.
//! - **remember** adds nothing: the browser resends the credentials itself.
//! - **forget** returns `WWW-Authenticate: Basic realm="<realm>"`, which makes browsers drop
//!   cached credentials.
//! - **challenge** always answers `401 Unauthorized` with that header, the forget headers, and
//!   webob's plain-text body. `WWW-Authenticate: Basic` appears exactly once: a forget header
//!   that is also a Basic challenge (ours when this plugin identified the user, or another
//!   realm's) is dropped; other forget headers (cookies being cleared) and challenges of other
//!   schemes are kept. repoze.who drops *all* forget headers when its own is among them.
//!
//! `realm` defaults to `basic`, as in repoze.who; a realm with `"`, `\` or control
//! characters is refused (it would break the header).
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

pub mod basic;

use rewho_plugin_api::{
    Challenger, Environ, FactoryContext, HeaderField, Identifier, Identity, Map, Plugin,
    PluginError, Request, Response,
};
use serde::Deserialize;

/// The 401 body, as webob's `HTTPUnauthorized` writes it for non-HTML clients.
pub const UNAUTHORIZED_BODY: &str =
    "401 Unauthorized\n\nThis server could not verify that you are \
authorized to access the document you requested. Either you supplied the wrong credentials (e.g., \
bad password), or your browser does not understand how to supply the credentials required.\n\n   ";

/// Options of the `basicauth` plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The protection space the browser shows.
    #[serde(default = "default_realm")]
    realm: String,
}

fn default_realm() -> String {
    "basic".to_owned()
}

/// The plugin.
#[derive(Debug)]
pub struct BasicAuth {
    www_authenticate: String,
}

impl BasicAuth {
    /// A plugin for `realm` (`None` when the realm cannot be put in a header).
    pub fn new(realm: &str) -> Option<BasicAuth> {
        let ok = realm
            .chars()
            .all(|c| !c.is_control() && c != '"' && c != '\\');
        ok.then(|| BasicAuth {
            www_authenticate: format!("Basic realm=\"{realm}\""),
        })
    }

    fn header(&self) -> HeaderField {
        HeaderField::new("WWW-Authenticate", self.www_authenticate.as_str())
    }
}

impl Plugin for BasicAuth {
    type Options = Options;
    const SUMMARY: &'static str = "HTTP Basic credentials: identifier + 401 challenger";

    fn new(o: Options, _ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        BasicAuth::new(&o.realm).ok_or_else(|| {
            PluginError::new("`realm` may not contain '\"', '\\' or control characters")
        })
    }
}

/// `true` for a `WWW-Authenticate` header offering the Basic scheme.
fn is_basic_challenge(h: &HeaderField) -> bool {
    h.name.as_str().eq_ignore_ascii_case("www-authenticate")
        && h.value
            .as_str()
            .trim_start()
            .get(..5)
            .is_some_and(|s| s.eq_ignore_ascii_case("basic"))
}

// IIdentifier
impl Identifier for BasicAuth {
    fn identify(
        &self,
        req: &Request<'_>,
        _env: &mut Environ,
    ) -> Result<Option<Identity>, PluginError> {
        let Some(header) = req.header("authorization") else {
            return Ok(None);
        };
        Ok(basic::parse_basic(header).map(|(login, password)| {
            let mut identity = Map::new();
            identity.insert("login", login);
            identity.insert("password", password);
            identity
        }))
    }

    fn forget(
        &self,
        _req: &Request<'_>,
        _env: &mut Environ,
        _identity: &Identity,
    ) -> Result<Vec<HeaderField>, PluginError> {
        Ok(vec![self.header()])
    }
}

// IChallenger
impl Challenger for BasicAuth {
    fn challenge(
        &self,
        _req: &Request<'_>,
        _env: &mut Environ,
        _status: u16,
        _app_headers: &[HeaderField],
        forget_headers: &[HeaderField],
    ) -> Result<Option<Response>, PluginError> {
        let mut response = Response::new(401);
        response.headers.push(self.header());
        for h in forget_headers.iter().filter(|h| !is_basic_challenge(h)) {
            response.headers.push(h.clone());
        }
        Ok(Some(
            response
                .with_header("Content-Type", "text/plain; charset=UTF-8")
                .with_body(UNAUTHORIZED_BODY),
        ))
    }
}

rewho_plugin_api::export_plugin! {
    "basicauth" => BasicAuth: [identifier, challenger],
}

#[cfg(test)]
mod tests {
    use super::*;
    use rewho_plugin_api::state::RequestParts;
    use rewho_plugin_api::testing::{environ, view};
    use rewho_plugin_api::Header;

    fn req<'a>(headers: &'a [Header<'a>]) -> Request<'a> {
        view(RequestParts {
            method: "GET",
            scheme: "http",
            host: "example.com",
            path: "/",
            query: "",
            peer_addr: "127.0.0.1",
            client_addr: "127.0.0.1",
            headers,
        })
    }

    fn identify(p: &BasicAuth, auth: Option<&str>) -> Option<Identity> {
        let h: Vec<Header<'_>> = auth
            .map(|v| Header {
                name: "Authorization".into(),
                value: v.into(),
            })
            .into_iter()
            .collect();
        p.identify(&req(&h), &mut environ()).unwrap()
    }

    #[test]
    fn identifies_login_and_password() {
        let p = BasicAuth::new("basic").unwrap();
        let id = identify(&p, Some("Basic dXNlcjpwYXNz")).unwrap();
        assert_eq!(id.get_str("login"), Some("user"));
        assert_eq!(id.get_str("password"), Some("pass"));
        assert_eq!(id.len(), 2);
        assert!(
            !format!("{id:?}").contains("pass\""),
            "Debug hides the password"
        );
        assert!(identify(&p, None).is_none());
        assert!(identify(&p, Some("Basic ???")).is_none());
        assert!(identify(&p, Some("Basic bm9jb2xvbg==")).is_none());
        assert!(identify(&p, Some("Digest x")).is_none());
        let id = identify(&p, Some("basic 6To=")).unwrap();
        assert_eq!(id.get_str("login"), Some("é"), "latin-1 fallback");
    }

    #[test]
    fn forget_and_challenge_carry_one_www_authenticate() {
        let p = BasicAuth::new("My Site").unwrap();
        let r = req(&[]);
        let forget = p.forget(&r, &mut environ(), &Map::new()).unwrap();
        assert_eq!(forget.len(), 1);
        assert_eq!(forget[0].name.as_str(), "WWW-Authenticate");
        assert_eq!(forget[0].value.as_str(), "Basic realm=\"My Site\"");

        // Our own forget header among the forget headers, plus a cookie being cleared.
        let mut forget_headers = forget.clone();
        forget_headers.push(HeaderField::new(
            "Set-Cookie",
            "auth_tkt=\"INVALID\"; Path=/",
        ));
        forget_headers.push(HeaderField::new(
            "www-authenticate",
            "basic realm=\"other\"",
        ));
        forget_headers.push(HeaderField::new("WWW-Authenticate", "Bearer realm=\"api\""));
        let resp = p
            .challenge(&r, &mut environ(), 401, &[], &forget_headers)
            .unwrap()
            .unwrap();
        assert_eq!(resp.status, 401);
        let names: Vec<(&str, &str)> = resp
            .headers
            .iter()
            .map(|h| (h.name.as_str(), h.value.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("WWW-Authenticate", "Basic realm=\"My Site\""),
                ("Set-Cookie", "auth_tkt=\"INVALID\"; Path=/"),
                ("WWW-Authenticate", "Bearer realm=\"api\""),
                ("Content-Type", "text/plain; charset=UTF-8"),
            ]
        );
        assert_eq!(resp.body.as_slice(), UNAUTHORIZED_BODY.as_bytes());
        assert_eq!(resp.body.len(), 253, "webob's Content-Length");

        // Without forget headers: just ours.
        let resp = p
            .challenge(&r, &mut environ(), 403, &[], &[])
            .unwrap()
            .unwrap();
        assert_eq!(
            resp.headers
                .iter()
                .filter(|h| h.name.as_str() == "WWW-Authenticate")
                .count(),
            1
        );
    }

    #[test]
    fn realm_is_checked() {
        assert!(BasicAuth::new("a\"b").is_none());
        assert!(BasicAuth::new("a\r\nX: y").is_none());
        let o: Options = rewho_plugin_api::from_options("b", []).unwrap();
        assert_eq!(o.realm, "basic");
        assert!(rewho_plugin_api::from_options::<Options>("b", [("realms", "x")]).is_err());
    }
}

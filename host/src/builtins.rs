//! Plugins built into the host: repoze.who's default request classifier and its two challenge
//! deciders, plus the table that maps repoze.who's dotted names onto ours so an existing
//! who.ini runs unchanged.

use rewho_plugin_api::{
    ChallengeDecider, Environ, FactoryContext, HeaderField, Key, Plugin, PluginError, Request,
    RequestClassifier,
};
use serde::Deserialize;

use crate::loader::PluginLibrary;

/// Options for the built-ins: none.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {}

/// repoze.who's `default_request_classifier`: `dav`, `xmlpost` or `browser`.
pub struct DefaultRequestClassifier;

const DAV_METHODS: &[&str] = &[
    "OPTIONS",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "LOCK",
    "UNLOCK",
    "TRACE",
    "DELETE",
    "COPY",
    "MOVE",
];

const DAV_USER_AGENTS: &[&str] = &[
    "Microsoft Data Access Internet Publishing Provider",
    "WebDrive",
    "Zope External Editor",
    "WebDAVFS",
    "Goliath",
    "neon",
    "davlib",
    "wsAPI",
    "Microsoft-WebDAV",
];

/// The bytes a [`DAV_USER_AGENTS`] entry starts with.
const DAV_AGENT_STARTS: [bool; 256] = {
    let mut starts = [false; 256];
    let mut i = 0;
    while i < DAV_USER_AGENTS.len() {
        starts[DAV_USER_AGENTS[i].as_bytes()[0] as usize] = true;
        i += 1;
    }
    starts
};

/// Whether `agent` contains one of [`DAV_USER_AGENTS`], as repoze.who's `in` tests do. One
/// pass over the header, trying the names only where one could start: every browser request
/// asks this, and nine substring searches cost several times more.
fn is_dav_agent(agent: &str) -> bool {
    let bytes = agent.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        DAV_AGENT_STARTS[usize::from(b)]
            && DAV_USER_AGENTS
                .iter()
                .any(|a| bytes[i..].starts_with(a.as_bytes()))
    })
}

impl Plugin for DefaultRequestClassifier {
    type Options = NoOptions;
    const SUMMARY: &'static str = "repoze.who's default request classifier (dav, xmlpost, browser)";
    fn new(_: NoOptions, _: &FactoryContext<'_>) -> Result<Self, PluginError> {
        Ok(DefaultRequestClassifier)
    }
}

// IRequestClassifier
impl RequestClassifier for DefaultRequestClassifier {
    fn classify(&self, req: &Request<'_>, _env: &mut Environ) -> Result<Key, PluginError> {
        Ok(classify_request(req).into())
    }
}

/// The classification rules, exactly as repoze.who's: DAV methods, then DAV user agents
/// (substring match), then `POST` with a `text/xml` content type.
pub fn classify_request(req: &Request<'_>) -> &'static str {
    let method = req.method();
    if DAV_METHODS.contains(&method) {
        return "dav";
    }
    if let Some(agent) = req.header("user-agent") {
        if is_dav_agent(agent) {
            return "dav";
        }
    }
    if method == "POST"
        && req
            .header("content-type")
            .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("text/xml"))
    {
        return "xmlpost";
    }
    "browser"
}

/// rewho's `accept_request_classifier`: repoze.who's rules (`dav`, `xmlpost`), then `browser`
/// only for a page load by a browser (it accepts `text/html` and sent no `Authorization`),
/// else `api`. With `redirector;browser` before `basicauth` in `[challengers]`, browsers are
/// sent to the login form while curl, scripts and `fetch` calls get a Basic challenge.
pub struct AcceptRequestClassifier;

impl Plugin for AcceptRequestClassifier {
    type Options = NoOptions;
    const SUMMARY: &'static str =
        "repoze.who's classifier, but `browser` only for text/html page loads, else `api`";
    fn new(_: NoOptions, _: &FactoryContext<'_>) -> Result<Self, PluginError> {
        Ok(AcceptRequestClassifier)
    }
}

// IRequestClassifier
impl RequestClassifier for AcceptRequestClassifier {
    fn classify(&self, req: &Request<'_>, _env: &mut Environ) -> Result<Key, PluginError> {
        Ok(accept_classify(req).into())
    }
}

/// The rules of [`AcceptRequestClassifier`].
fn accept_classify(req: &Request<'_>) -> &'static str {
    match classify_request(req) {
        "browser" => {
            let html = req
                .headers_named("accept")
                .any(|a| a.to_ascii_lowercase().contains("text/html"));
            if html && req.header("authorization").is_none() {
                "browser"
            } else {
                "api"
            }
        }
        other => other,
    }
}

/// repoze.who's `default_challenge_decider`: challenge every 401.
pub struct DefaultChallengeDecider;

impl Plugin for DefaultChallengeDecider {
    type Options = NoOptions;
    const SUMMARY: &'static str = "challenge on every 401 response";
    fn new(_: NoOptions, _: &FactoryContext<'_>) -> Result<Self, PluginError> {
        Ok(DefaultChallengeDecider)
    }
}

// IChallengeDecider
impl ChallengeDecider for DefaultChallengeDecider {
    fn decide(
        &self,
        _req: &Request<'_>,
        _env: &mut Environ,
        status: u16,
        _headers: &[HeaderField],
    ) -> Result<bool, PluginError> {
        Ok(status == 401)
    }
}

/// repoze.who's `passthrough_challenge_decider`: challenge a 401 unless the application
/// already challenged (it sent `WWW-Authenticate` or an HTML page).
pub struct PassthroughChallengeDecider;

impl Plugin for PassthroughChallengeDecider {
    type Options = NoOptions;
    const SUMMARY: &'static str = "challenge on 401 unless the app already challenged";
    fn new(_: NoOptions, _: &FactoryContext<'_>) -> Result<Self, PluginError> {
        Ok(PassthroughChallengeDecider)
    }
}

// IChallengeDecider
impl ChallengeDecider for PassthroughChallengeDecider {
    fn decide(
        &self,
        _req: &Request<'_>,
        _env: &mut Environ,
        status: u16,
        headers: &[HeaderField],
    ) -> Result<bool, PluginError> {
        if status != 401 {
            return Ok(false);
        }
        // Header names compare case-insensitively (repoze's dict lookup does not: a bug).
        let find = |name: &str| {
            headers
                .iter()
                .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
                .map(|h| h.value.as_str())
        };
        if find("www-authenticate").is_some() {
            return Ok(false);
        }
        Ok(match find("content-type") {
            Some(ct) => !ct.starts_with("text/html"),
            None => true,
        })
    }
}

/// The name under which the built-in library is known (`use = builtin:passthrough_challenge_decider`).
pub const BUILTIN_LIBRARY: &str = "builtin";

/// The built-in plugins as a library linked into the host.
pub fn builtin_library() -> PluginLibrary {
    PluginLibrary::from_static(
        "<builtin>",
        rewho_plugin_api::plugin_module! {
            "default_request_classifier" => DefaultRequestClassifier: [classifier],
            "accept_request_classifier" => AcceptRequestClassifier: [classifier],
            "default_challenge_decider" => DefaultChallengeDecider: [decider],
            "passthrough_challenge_decider" => PassthroughChallengeDecider: [decider],
        },
    )
}

/// What a dotted repoze.who name stands for in rewho: a library short name and a factory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapped {
    /// Library short name (`auth_tkt`) or [`BUILTIN_LIBRARY`].
    pub library: &'static str,
    /// Factory within it; `None` for the library's default.
    pub factory: Option<&'static str>,
}

/// Maps repoze.who's dotted names (`repoze.who.plugins.auth_tkt:make_plugin`, the class
/// names, the `module.Class` spelling, the classifiers) to rewho's plugins.
pub fn map_dotted_name(name: &str) -> Option<Mapped> {
    let name = name.trim();
    // `a.b.c:attr`, or `a.b.c.attr` (the same thing spelled without a colon), or a module.
    let (module, attr) = match name.split_once(':') {
        Some((m, a)) => (m, Some(a)),
        None => (name, None),
    };
    let lib = |library: &'static str| {
        Some(Mapped {
            library,
            factory: None,
        })
    };
    let builtin = |factory: &'static str| {
        Some(Mapped {
            library: BUILTIN_LIBRARY,
            factory: Some(factory),
        })
    };
    let full = match attr {
        Some(a) => format!("{module}.{a}"),
        None => module.to_owned(),
    };
    match full.as_str() {
        "repoze.who.classifiers.default_request_classifier" => {
            builtin("default_request_classifier")
        }
        "repoze.who.classifiers.default_challenge_decider" => builtin("default_challenge_decider"),
        "repoze.who.classifiers.passthrough_challenge_decider" => {
            builtin("passthrough_challenge_decider")
        }
        _ => {
            if let Some(factory) = ldap_factory(&full) {
                return Some(Mapped {
                    library: "ldap",
                    factory: Some(factory),
                });
            }
            let rest = full.strip_prefix("repoze.who.plugins.")?;
            let mut parts = rest.split('.');
            let plugin = parts.next()?;
            match plugin {
                "auth_tkt" => lib("auth_tkt"),
                "basicauth" => lib("basicauth"),
                "htpasswd" => lib("htpasswd"),
                "redirector" => lib("redirector"),
                "memcached" => lib("memcached"),
                "metadata_cache" => lib("metadata_cache"),
                "cas" => lib("cas"),
                _ => None,
            }
        }
    }
}

/// The `ldap` library's factory for `ldap_search`, `ldap_attributes`, `ldap_groups` (short
/// names of factories in the one library `ldap`), and for who_ldap's and
/// repoze.who.plugins.ldap's class names (`who_ldap.LDAPGroupsPlugin`,
/// `repoze.who.plugins.ldap[.plugins].LDAPAuthenticatorPlugin`).
fn ldap_factory(full: &str) -> Option<&'static str> {
    let class = full
        .strip_prefix("who_ldap.")
        .or_else(|| full.strip_prefix("repoze.who.plugins.ldap.plugins."))
        .or_else(|| full.strip_prefix("repoze.who.plugins.ldap."))
        .unwrap_or(full);
    let dotted = class != full;
    match (dotted, class) {
        (true, "LDAPAuthenticatorPlugin") => Some("ldap"),
        (true, "LDAPSearchAuthenticatorPlugin") | (false, "ldap_search") => Some("ldap_search"),
        (true, "LDAPAttributesPlugin") | (false, "ldap_attributes") => Some("ldap_attributes"),
        (true, "LDAPGroupsPlugin") | (false, "ldap_groups") => Some("ldap_groups"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OwnedRequest;
    use rewho_plugin_api::Header;

    fn req(method: &str, headers: &[Header<'_>]) -> OwnedRequest {
        let mut req = OwnedRequest::get("/").method(method);
        req.host = "h".into();
        for h in headers {
            req = req.header(h.name.as_str(), h.value.as_str());
        }
        req
    }

    #[test]
    fn dav_agents_are_found_wherever_a_substring_search_finds_them() {
        let mut agents = vec![
            "".to_owned(),
            "ApacheBench/2.3".to_owned(),
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36".to_owned(),
            "Microsoft-WebDA".to_owned(),
            "neo".to_owned(),
            "nneon".to_owned(),
            "WebDAVFS/3.0.0 (03008000) Darwin/9.8.0 (Power Macintosh)".to_owned(),
            "Zope External Editor/1.0 Goliath".to_owned(),
        ];
        for a in DAV_USER_AGENTS {
            agents.push(format!("x{a}"));
            agents.push(a[..a.len() - 1].to_owned());
            agents.push(format!("Mozilla/5.0 ({a})"));
        }
        for agent in &agents {
            let want = DAV_USER_AGENTS.iter().any(|a| agent.contains(a));
            assert_eq!(is_dav_agent(agent), want, "{agent:?}");
        }
        assert!(agents.iter().filter(|a| is_dav_agent(a)).count() > DAV_USER_AGENTS.len());
    }

    #[test]
    fn classifier_follows_repoze_rules() {
        assert_eq!(
            req("PROPFIND", &[]).with_view(|r| classify_request(&r)),
            "dav"
        );
        assert_eq!(
            req("OPTIONS", &[]).with_view(|r| classify_request(&r)),
            "dav"
        );
        let ua = [Header {
            name: "User-Agent".into(),
            value: "gvfs/1.0 neon/0.29".into(),
        }];
        assert_eq!(req("GET", &ua).with_view(|r| classify_request(&r)), "dav");
        let xml = [Header {
            name: "Content-Type".into(),
            value: "Text/XML; charset=utf-8".into(),
        }];
        assert_eq!(
            req("POST", &xml).with_view(|r| classify_request(&r)),
            "xmlpost"
        );
        assert_eq!(
            req("PUT", &xml).with_view(|r| classify_request(&r)),
            "browser"
        );
        assert_eq!(
            req("GET", &[]).with_view(|r| classify_request(&r)),
            "browser"
        );
    }

    #[test]
    fn accept_classifier_tells_page_loads_from_api_calls() {
        let h = |pairs: &[(&'static str, &'static str)]| -> Vec<Header<'static>> {
            pairs
                .iter()
                .map(|(n, v)| Header {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect()
        };
        let page = h(&[("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")]);
        assert_eq!(
            req("GET", &page).with_view(|r| accept_classify(&r)),
            "browser"
        );
        assert_eq!(
            req("GET", &h(&[("Accept", "*/*")])).with_view(|r| accept_classify(&r)),
            "api"
        );
        assert_eq!(req("GET", &[]).with_view(|r| accept_classify(&r)), "api");
        let basic = h(&[("Accept", "text/html"), ("Authorization", "Basic eDp5")]);
        assert_eq!(req("GET", &basic).with_view(|r| accept_classify(&r)), "api");
        assert_eq!(
            req("PROPFIND", &page).with_view(|r| accept_classify(&r)),
            "dav"
        );
    }

    #[test]
    fn dotted_names_map_to_plugins() {
        assert_eq!(
            map_dotted_name("repoze.who.plugins.auth_tkt:make_plugin"),
            Some(Mapped {
                library: "auth_tkt",
                factory: None
            })
        );
        assert_eq!(
            map_dotted_name("repoze.who.plugins.basicauth.BasicAuthPlugin"),
            Some(Mapped {
                library: "basicauth",
                factory: None
            })
        );
        assert_eq!(
            map_dotted_name("repoze.who.plugins.metadata_cache.memory:make_plugin"),
            Some(Mapped {
                library: "metadata_cache",
                factory: None
            })
        );
        assert_eq!(
            map_dotted_name("repoze.who.plugins.cas.main_plugin:make_plugin"),
            Some(Mapped {
                library: "cas",
                factory: None
            })
        );
        assert_eq!(
            map_dotted_name("repoze.who.plugins.memcached"),
            Some(Mapped {
                library: "memcached",
                factory: None
            })
        );
        assert_eq!(
            map_dotted_name("repoze.who.classifiers:passthrough_challenge_decider"),
            Some(Mapped {
                library: BUILTIN_LIBRARY,
                factory: Some("passthrough_challenge_decider")
            })
        );
        assert_eq!(map_dotted_name("my.ldap.authenticator"), None);
        let ldap = |factory| {
            Some(Mapped {
                library: "ldap",
                factory: Some(factory),
            })
        };
        assert_eq!(map_dotted_name("ldap_search"), ldap("ldap_search"));
        assert_eq!(map_dotted_name("ldap_groups"), ldap("ldap_groups"));
        assert_eq!(
            map_dotted_name("ldap"),
            None,
            "the library's own short name"
        );
        assert_eq!(
            map_dotted_name("who_ldap:LDAPSearchAuthenticatorPlugin"),
            ldap("ldap_search")
        );
        assert_eq!(
            map_dotted_name("who_ldap.LDAPAttributesPlugin"),
            ldap("ldap_attributes")
        );
        assert_eq!(
            map_dotted_name("repoze.who.plugins.ldap:LDAPAuthenticatorPlugin"),
            ldap("ldap")
        );
        assert_eq!(
            map_dotted_name("repoze.who.plugins.ldap.plugins:LDAPAttributesPlugin"),
            ldap("ldap_attributes")
        );
        assert_eq!(map_dotted_name("who_ldap:Nothing"), None);
    }
}

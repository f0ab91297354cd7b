//! `rules`: the bundled authorizer. Access rules in who.ini, one per line; the first rule
//! whose methods, host and path match decides.
//!
//! ```ini
//! [plugin:rules]
//! use = rules
//! rules =
//!     /_health                       anyone
//!     GET,HEAD /static/**            anyone
//!     admin.example.com/**           group:admins
//!     /admin/**                      group:admins user:root
//!     POST,PUT,DELETE /api/**        group:writers&net:10.0.0.0/8
//!     /**                            authenticated
//!
//! [authorizers]
//! plugins = rules
//! ```
//!
//! # Options
//! | option | meaning |
//! | --- | --- |
//! | `rules` | the rules, one per line (who.ini's `%` must be written `%%`) |
//! | `rules_file` | a file of rules instead (relative to who.ini's folder); `#` comments allowed |
//!
//! Set exactly one. The rules compile once when the plugin is built: a bad rule stops
//! start-up with `rule N (line K of the option): …` (or `FILE:LINE: rule N: …`).
//!
//! # Grammar
//! ```text
//! rule        = [METHODS SP] TARGET SP REQUIREMENT *(SP REQUIREMENT) [SP "#" comment]
//! METHODS     = METHOD *("," METHOD)                  ; GET,HEAD
//! TARGET      = [HOST] PATH-GLOB                      ; /admin/**   app.example.com/admin/**
//! REQUIREMENT = CONDITION *("&" CONDITION)
//! CONDITION   = "anyone" | "authenticated" | "deny" | "user:" ID | "group:" NAME | "net:" CIDR
//! ```
//! - `*` matches within one path segment (`/static/*.css`), `**` any number of segments
//!   (`/admin/**` matches `/admin`, `/admin/` and everything below). A trailing `/` is not
//!   significant. Hosts are matched without port, case-insensitively; `*.example.com` is any
//!   subdomain (not `example.com` itself).
//! - Several requirements on a line: any one suffices. Conditions joined with `&`: all must
//!   hold (`group:ops&net:10.0.0.0/8`). `group:` reads the identity's `groups` list.
//! - A line that matches but whose requirements fail denies; no line matches → abstain.
//! - Paths are decoded and normalised before matching (`/admin/../admin` is `/admin`); see
//!   [`engine::path`] and docs/AUTHORIZATION.md for how encoded slashes are handled.
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

pub mod engine;

use std::borrow::Cow;
use std::net::IpAddr;

use rewho_plugin_api::{
    Environ, FactoryContext, Identity, Plugin, PluginError, Request, Value, USERID_KEY,
};
use serde::Deserialize;

use crate::engine::{Effect, GroupSet, RuleSet, Subject, Target};
use rewho_plugin_api::{Authorization, Authorizer, Decision};

/// The identity key `group:` reads: a list of strings.
pub const GROUPS_KEY: &str = "groups";

/// Options of `use = rules`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    rules: Option<String>,
    rules_file: Option<String>,
}

/// The `rules` authorizer.
#[derive(Debug)]
pub struct Rules {
    set: RuleSet,
}

impl Rules {
    /// The compiled rules (for `--explain`).
    pub fn rule_set(&self) -> &RuleSet {
        &self.set
    }
}

impl Plugin for Rules {
    type Options = Options;
    const SUMMARY: &'static str =
        "access rules (methods, host, path; user:, group:, net:): first match decides";

    fn new(o: Options, ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        let set = match (o.rules, o.rules_file) {
            (Some(text), None) => {
                RuleSet::compile(&text).map_err(|e| PluginError(format!("option `rules`: {e}")))?
            }
            (None, Some(file)) => {
                let path = ctx.resolve_path(file.trim());
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    PluginError(format!(
                        "option `rules_file`: cannot read {}: {e}",
                        path.display()
                    ))
                })?;
                RuleSet::compile(&text).map_err(|e| {
                    PluginError(format!(
                        "option `rules_file`: {}",
                        e.in_file(&path.display().to_string())
                    ))
                })?
            }
            (Some(_), Some(_)) => return Err("set either `rules` or `rules_file`, not both".into()),
            (None, None) => return Err("missing option `rules` (or `rules_file`)".into()),
        };
        Ok(Rules { set })
    }
}

/// An identity's `groups`: a list of strings (other items are ignored) or one string.
struct IdentityGroups<'a>(Option<&'a Value>);

impl GroupSet for IdentityGroups<'_> {
    fn contains_group(&self, name: &str) -> bool {
        match self.0 {
            Some(Value::List(items)) => items.iter().any(|g| g.as_str() == Some(name)),
            Some(Value::Str(s)) => s.as_str() == name,
            _ => false,
        }
    }
}

/// The client address of a request, for `net:` (`remote_addr`; `client_addr()` in ABI 1.0).
fn client_addr(req: &Request<'_>) -> Option<IpAddr> {
    let addr = req.client_addr();
    addr.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Evaluates `set` for a request and an optional identity: the glue between the SDK's types
/// and the engine, shared with tests.
pub fn authorize(set: &RuleSet, req: &Request<'_>, identity: Option<&Identity>) -> Authorization {
    let user: Option<Cow<'_, str>> = identity
        .and_then(|i| i.get(USERID_KEY))
        .filter(|v| !v.is_null())
        .map(|v| match v.as_str() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(v.to_display_string()),
        });
    let groups = IdentityGroups(identity.and_then(|i| i.get(GROUPS_KEY)));
    let subject = Subject {
        user: user.as_deref(),
        groups: &groups,
    };
    let target = Target {
        method: req.method(),
        host: req.host_without_port(),
        path: req.path(),
        client: client_addr(req),
    };
    let verdict = set.evaluate(&subject, &target);
    let decision = match verdict.effect {
        Effect::Allow => Decision::Allow,
        Effect::Deny => Decision::Deny,
        Effect::Abstain => Decision::Abstain,
    };
    Authorization::new(decision, verdict.reason())
}

// IAuthorizer
impl Authorizer for Rules {
    fn authorize(
        &self,
        req: &Request<'_>,
        _env: &mut Environ,
        identity: Option<&Identity>,
    ) -> Result<Authorization, PluginError> {
        Ok(authorize(&self.set, req, identity))
    }
}

rewho_plugin_api::export_plugin! {
    "rules" => Rules: [authorizer],
}

#[cfg(test)]
mod tests;

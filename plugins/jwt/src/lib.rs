//! The `jwt` plugin: verifies JSON Web Tokens and names their user.
//!
//! - **Identifier**: `Authorization: Bearer <token>` → identity `{jwt: <token>}`, so API
//!   clients that send their own token are served by this plugin alone.
//! - **Authenticator**: verifies `identity["jwt"]` from *any* identifier. `redis_session` puts
//!   the JWT it found in Redis there, so `redis_session` → `jwt` authenticates in one request.
//!   The user id is the `userid_claim` (default `sub`, a string or an integer); every other
//!   claim is copied into the identity as metadata (nested JSON becomes maps and lists), without
//!   overwriting keys the identity already has.
//! - **Groups**: the strings of the `groups_claim` claim (a list, or one string) are added to
//!   the identity's `groups` list after any already there, without duplicates; other items are
//!   ignored. Only that claim feeds `groups`: a token's own `groups` claim is not copied as
//!   metadata (with `groups_claim = roles`, or empty, it is ignored).
//!
//! ```ini
//! [plugin:jwt]
//! use = jwt
//! secretfile = %(here)s/jwt.key
//! algorithms = HS256
//! audience = my-api
//! leeway = 30
//! ```
//!
//! # Options
//! | option | default | meaning |
//! | --- | --- | --- |
//! | `secret` / `secretfile` | none | the HMAC key for HS256/384/512 (a file's trailing newline is dropped) |
//! | `public_key_file` | none | PEM public key (`PUBLIC KEY` RSA or P-256, or `RSA PUBLIC KEY`) for RS*/ES256 |
//! | `jwks_file` | none | a local JWKS document (`{"keys": [...]}`); `kid` and `alg` select keys |
//! | `algorithms` | `HS256` | accepted `alg`s: `HS256 HS384 HS512 RS256 RS384 RS512 ES256` |
//! | `audience` | none | accepted `aud` values (whitespace-separated) |
//! | `issuer` | none | the required `iss` |
//! | `leeway` | `0` | seconds of tolerance for `exp` and `nbf` |
//! | `userid_claim` | `sub` | the claim holding the user id |
//! | `groups_claim` | `groups` | the claim whose strings go to the identity's `groups` list (what the `rules` authorizer's `group:` reads); a dotted path (`realm_access.roles`) reaches into objects; empty turns it off |
//!
//! # Rules
//! - `none` is never accepted, and neither is any `alg` missing from `algorithms` (checked
//!   before any key is used). HS* tokens are checked only with the secret, RS*/ES256 only with
//!   public keys, so a public key can never be abused as an HMAC secret.
//! - `exp` and `nbf` are checked against the **host's clock** with `leeway` (expired when
//!   `exp <= now - leeway`, premature when `nbf > now + leeway`, as PyJWT). Neither is required.
//! - With `audience`, `aud` must name one of its values; without it, a token that carries `aud`
//!   is refused (RFC 7519 §4.1.3: a recipient not named in `aud` must reject the token).
//! - A header with `crit` is refused: no extension is implemented.
//! - A rejected token gives no user id and an info log with the reason; the token itself is
//!   never logged.
//!
//! Verification itself lives in the `rewho-jwt-verify` library (`verify/`), which the `oidc`
//! plugin shares. Signatures are checked with RustCrypto (`hmac`/`sha2`, `rsa` PKCS#1 v1.5, `p256` ECDSA) and
//! tested against RFC 7515's published examples and OpenSSL-signed tokens.
#![warn(missing_docs)]

use rewho_plugin_api::{
    Authenticator, Environ, FactoryContext, Host, Identifier, Identity, Plugin, PluginError,
    Request, Value, AUTHENTICATOR_KEY, IDENTIFIER_KEY,
};
use serde::Deserialize;

use rewho_jwt_verify::{Algorithm, Key, Verifier};

/// The identity key holding the token, for both roles (and for `redis_session`).
pub const JWT_KEY: &str = "jwt";

/// The `jwt` identifier and authenticator. `Debug` is not derived: it holds the secret.
pub struct Jwt {
    host: Host,
    verifier: Verifier,
    userid_claim: String,
    /// The claim feeding `groups` (a key, else a dotted path); empty: none.
    groups_claim: String,
}

/// Options of `[plugin:…] use = jwt`; see the crate docs for each.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    secret: Option<String>,
    secretfile: Option<String>,
    public_key_file: Option<String>,
    jwks_file: Option<String>,
    #[serde(default = "default_algorithms")]
    algorithms: Vec<String>,
    #[serde(default)]
    audience: Vec<String>,
    issuer: Option<String>,
    #[serde(default)]
    leeway: u32,
    #[serde(default = "default_userid_claim")]
    userid_claim: String,
    #[serde(default = "default_groups_claim")]
    groups_claim: String,
}

fn default_algorithms() -> Vec<String> {
    vec!["HS256".into()]
}
fn default_userid_claim() -> String {
    "sub".into()
}
fn default_groups_claim() -> String {
    GROUPS_KEY.into()
}

/// The identity key holding the user's groups (a list of strings).
pub const GROUPS_KEY: &str = "groups";

/// The claim at `name`: the key itself, else a dotted path through objects (Keycloak's
/// `realm_access.roles`; a namespaced claim such as `https://example.com/groups` is a key).
fn claim_at<'c>(claims: &'c Identity, name: &str) -> Option<&'c Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_map()?.get(part)?;
    }
    Some(value)
}

/// Adds the strings of `claim` (a list, or one string) to `identity["groups"]`, after what is
/// there, without duplicates. Returns how many items were not strings.
fn merge_groups(identity: &mut Identity, claim: &Value) -> usize {
    let (items, skipped): (Vec<&str>, usize) = match claim {
        Value::Str(s) => (vec![s.as_str()], 0),
        Value::List(l) => {
            let strs: Vec<&str> = l.iter().filter_map(Value::as_str).collect();
            let skipped = l.len() - strs.len();
            (strs, skipped)
        }
        _ => (Vec::new(), 1),
    };
    let mut list: Vec<Value> = match identity.get(GROUPS_KEY) {
        Some(Value::List(l)) => l.to_vec(),
        Some(Value::Str(s)) => vec![Value::from(s.as_str())],
        _ => Vec::new(),
    };
    for g in items {
        if !list.iter().any(|v| v.as_str() == Some(g)) {
            list.push(Value::from(g));
        }
    }
    identity.insert(GROUPS_KEY, Value::List(list.into_iter().collect()));
    skipped
}

fn read_file(ctx: &FactoryContext<'_>, option: &str, file: &str) -> Result<String, PluginError> {
    let path = ctx.resolve_path(file);
    std::fs::read_to_string(&path).map_err(|e| {
        PluginError(format!(
            "option `{option}`: cannot read {}: {e}",
            path.display()
        ))
    })
}

fn parse_algorithms(names: &[String]) -> Result<Vec<Algorithm>, PluginError> {
    if names.is_empty() {
        return Err("option `algorithms` is empty".into());
    }
    let mut out = Vec::new();
    for name in names {
        if name.eq_ignore_ascii_case("none") {
            return Err("option `algorithms`: `none` (unsigned tokens) is never accepted".into());
        }
        let alg = Algorithm::parse(name).ok_or_else(|| {
            let known: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
            PluginError(format!(
                "option `algorithms`: unknown algorithm `{name}` (supported: {})",
                known.join(" ")
            ))
        })?;
        if !out.contains(&alg) {
            out.push(alg);
        }
    }
    Ok(out)
}

impl Plugin for Jwt {
    type Options = Options;
    const SUMMARY: &'static str =
        "verifies JWTs (HS*/RS*/ES256) from Authorization: Bearer or another identifier's identity";

    fn new(o: Options, ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        let algorithms = parse_algorithms(&o.algorithms)?;
        let secret = match (o.secret, o.secretfile) {
            (Some(s), None) => Some(s),
            (None, Some(file)) => Some(
                read_file(ctx, "secretfile", &file)?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
            ),
            (Some(_), Some(_)) => {
                return Err("set either `secret` or `secretfile`, not both".into())
            }
            (None, None) => None,
        };
        if secret.as_deref() == Some("") {
            return Err("the JWT secret is empty".into());
        }
        let mut keys = Vec::new();
        if let Some(file) = &o.public_key_file {
            let pem = read_file(ctx, "public_key_file", file)?;
            let key = rewho_jwt_verify::from_pem(&pem)
                .map_err(|e| PluginError(format!("option `public_key_file` ({file}): {e}")))?;
            keys.push(Key {
                kid: None,
                alg: None,
                key,
            });
        }
        let host = ctx.host();
        if let Some(file) = &o.jwks_file {
            let json = read_file(ctx, "jwks_file", file)?;
            let (found, notes) = rewho_jwt_verify::from_jwks(&json)
                .map_err(|e| PluginError(format!("option `jwks_file` ({file}): {e}")))?;
            for note in notes {
                host.warn(&format!("jwks_file {file}: {note}"));
            }
            keys.extend(found);
        }
        // Every algorithm needs key material, and all key material must be usable: a
        // half-configured verifier is refused at start-up rather than failing every request.
        for alg in &algorithms {
            let has_key = if alg.is_hmac() {
                secret.is_some()
            } else {
                keys.iter().any(|k| k.key.fits(*alg))
            };
            if !has_key {
                return Err(PluginError(format!(
                    "algorithm {} needs {}",
                    alg.name(),
                    if alg.is_hmac() {
                        "`secret` or `secretfile`"
                    } else {
                        "a matching key in `public_key_file` or `jwks_file`"
                    }
                )));
            }
        }
        if secret.is_some() && !algorithms.iter().any(|a| a.is_hmac()) {
            return Err("a secret is set but `algorithms` lists no HS* algorithm".into());
        }
        if !keys.is_empty() && !algorithms.iter().any(|a| !a.is_hmac()) {
            return Err("public keys are set but `algorithms` lists no RS*/ES256 algorithm".into());
        }
        if o.userid_claim.is_empty() {
            return Err("option `userid_claim` is empty".into());
        }
        Ok(Jwt {
            host,
            verifier: Verifier {
                algorithms,
                secret: secret.map(String::into_bytes),
                keys,
                leeway: i64::from(o.leeway),
                audience: o.audience,
                issuer: o.issuer.filter(|i| !i.is_empty()),
            },
            userid_claim: o.userid_claim,
            groups_claim: o.groups_claim.trim().to_owned(),
        })
    }
}

/// `true` for keys the host or other plugins own in an identity.
fn reserved(key: &str) -> bool {
    key == JWT_KEY
        || key == IDENTIFIER_KEY
        || key == AUTHENTICATOR_KEY
        || key.starts_with("repoze.who.")
}

// IIdentifier
impl Identifier for Jwt {
    fn identify(
        &self,
        req: &Request<'_>,
        _env: &mut Environ,
    ) -> Result<Option<Identity>, PluginError> {
        let Some(value) = req.header("authorization") else {
            return Ok(None);
        };
        let Some((scheme, token)) = value.trim().split_once(' ') else {
            return Ok(None);
        };
        let token = token.trim();
        // Only JWS compact tokens: other bearer tokens are some other plugin's business.
        if !scheme.eq_ignore_ascii_case("bearer") || token.split('.').count() != 3 {
            return Ok(None);
        }
        let mut identity = Identity::new();
        identity.insert(JWT_KEY, token);
        Ok(Some(identity))
    }
}

// IAuthenticator
impl Authenticator for Jwt {
    fn authenticate(
        &self,
        _req: &Request<'_>,
        _env: &mut Environ,
        identity: &mut Identity,
    ) -> Result<Option<Value>, PluginError> {
        let Some(token) = identity.get_str(JWT_KEY) else {
            return Ok(None);
        };
        let mut claims = match self.verifier.verify(token, self.host.now_secs()) {
            Ok(claims) => claims,
            Err(why) => {
                self.host.info(&format!("JWT rejected: {why}"));
                return Ok(None);
            }
        };
        let userid = match claims.remove(&self.userid_claim) {
            Some(v @ (Value::Str(_) | Value::Int(_))) => v,
            Some(_) => {
                self.host.info(&format!(
                    "JWT rejected: claim `{}` is not a string or an integer",
                    self.userid_claim
                ));
                return Ok(None);
            }
            None => {
                self.host.info(&format!(
                    "JWT rejected: no `{}` claim to name the user",
                    self.userid_claim
                ));
                return Ok(None);
            }
        };
        if !self.groups_claim.is_empty() {
            if let Some(claim) = claim_at(&claims, &self.groups_claim) {
                let skipped = merge_groups(identity, claim);
                if skipped > 0 {
                    self.host.info(&format!(
                        "JWT claim `{}`: {skipped} item(s) that are not strings ignored",
                        self.groups_claim
                    ));
                }
            }
        }
        for (key, value) in claims.iter() {
            if !reserved(key) && key != GROUPS_KEY && !identity.contains_key(key) {
                identity.insert(key.to_owned(), value.clone());
            }
        }
        Ok(Some(userid))
    }
}

rewho_plugin_api::export_plugin! {
    "jwt" => Jwt: [identifier, authenticator],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_claim_feeds_groups() {
        let claims: Identity = serde_json::from_str(
            r#"{"groups": ["a", "b", 3], "realm_access": {"roles": ["r1"]},
                "https://example.com/groups": "ns", "role": "solo"}"#,
        )
        .unwrap();
        let mut id = Identity::new();
        id.insert(GROUPS_KEY, Value::from(vec!["pre", "a"]));
        assert_eq!(
            merge_groups(&mut id, claim_at(&claims, "groups").unwrap()),
            1
        );
        assert_eq!(
            id.get(GROUPS_KEY),
            Some(&Value::from(vec!["pre", "a", "b"]))
        );
        let mut id = Identity::new();
        merge_groups(&mut id, claim_at(&claims, "realm_access.roles").unwrap());
        merge_groups(
            &mut id,
            claim_at(&claims, "https://example.com/groups").unwrap(),
        );
        merge_groups(&mut id, claim_at(&claims, "role").unwrap());
        assert_eq!(
            id.get(GROUPS_KEY),
            Some(&Value::from(vec!["r1", "ns", "solo"]))
        );
        assert!(claim_at(&claims, "realm_access.missing").is_none());
        assert!(claim_at(&claims, "role.x").is_none());
    }

    #[test]
    fn algorithms_option() {
        let names = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(
            parse_algorithms(&names("HS256 ES256 HS256")).unwrap(),
            vec![Algorithm::HS256, Algorithm::ES256]
        );
        for bad in ["none", "HS256 None", "hs256", "PS256", ""] {
            assert!(parse_algorithms(&names(bad)).is_err(), "{bad}");
        }
        assert!(parse_algorithms(&names("none"))
            .unwrap_err()
            .0
            .contains("never accepted"));
    }
}

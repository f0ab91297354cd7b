//! What an ID token must say beyond a valid JWT (OpenID Connect Core §3.1.3.7), and how its
//! claims become an identity: the user id, `groups`, and the rest under `attributes_name`.

use rewho_plugin_api::{constant_time_eq, Map, Value};

/// Registered and protocol claims: checked, not user attributes.
const PROTOCOL_CLAIMS: &[&str] = &[
    "iss", "aud", "exp", "iat", "nbf", "nonce", "azp", "at_hash", "c_hash", "s_hash", "jti", "sid",
];

/// Why a verified-signature ID token is still refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadClaims {
    /// `nonce` missing or not the one this login sent (a replayed or injected token).
    #[error("nonce does not match this login's")]
    Nonce,
    /// No `exp` (OIDC requires one).
    #[error("ID token has no exp")]
    NoExpiry,
    /// `azp` names another client, or several audiences and no `azp`.
    #[error("authorized party (azp) is not this client")]
    AuthorizedParty,
    /// The user id claim is missing or not a string/integer.
    #[error("claim `{0}` (the user id) is missing, empty or not a string or integer")]
    UserId(String),
}

/// Checks what the JWT verifier does not: `exp` present, `nonce`, `azp`.
pub fn check(claims: &Map, nonce: &str, client_id: &str) -> Result<(), BadClaims> {
    if claims.get("exp").is_none() {
        return Err(BadClaims::NoExpiry);
    }
    match claims.get_str("nonce") {
        Some(n) if constant_time_eq(n.as_bytes(), nonce.as_bytes()) => {}
        _ => return Err(BadClaims::Nonce),
    }
    let several_audiences = claims
        .get("aud")
        .and_then(Value::as_list)
        .is_some_and(|l| l.len() > 1);
    match claims.get_str("azp") {
        Some(azp) if azp != client_id => return Err(BadClaims::AuthorizedParty),
        None if several_audiences => return Err(BadClaims::AuthorizedParty),
        _ => {}
    }
    Ok(())
}

/// The identity parts of a token's claims.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// The user id (a string or an integer).
    pub userid: Value,
    /// The groups claim as a list of strings (`None` when the token has none).
    pub groups: Option<Value>,
    /// Every other non-protocol claim.
    pub attributes: Map,
}

/// Splits `claims` into user id, groups and attributes.
pub fn map(claims: &Map, userid_claim: &str, groups_claim: &str) -> Result<Mapped, BadClaims> {
    let userid = match claims.get(userid_claim) {
        Some(Value::Str(s)) if !s.is_empty() => Value::Str(s.clone()),
        Some(v @ Value::Int(_)) => v.clone(),
        _ => return Err(BadClaims::UserId(userid_claim.to_owned())),
    };
    let groups = claims.get(groups_claim).map(|g| {
        let names: Vec<Value> = match g {
            Value::Str(s) => vec![Value::Str(s.clone())],
            Value::List(l) => l
                .iter()
                .filter_map(|v| v.as_str().map(Value::from))
                .collect(),
            _ => Vec::new(),
        };
        Value::List(names.into_iter().collect())
    });
    let attributes: Map = claims
        .iter()
        .filter(|(k, _)| *k != groups_claim && !PROTOCOL_CLAIMS.contains(k))
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect();
    Ok(Mapped {
        userid,
        groups,
        attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: &str) -> Map {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn nonce_exp_and_azp() {
        let ok = claims(r#"{"sub":"a","exp":1,"nonce":"n1","aud":"c"}"#);
        assert_eq!(check(&ok, "n1", "c"), Ok(()));
        assert_eq!(check(&ok, "n2", "c"), Err(BadClaims::Nonce));
        let no_nonce = claims(r#"{"sub":"a","exp":1,"aud":"c"}"#);
        assert_eq!(check(&no_nonce, "n1", "c"), Err(BadClaims::Nonce));
        let no_exp = claims(r#"{"sub":"a","nonce":"n1"}"#);
        assert_eq!(check(&no_exp, "n1", "c"), Err(BadClaims::NoExpiry));
        let two = claims(r#"{"exp":1,"nonce":"n","aud":["c","d"]}"#);
        assert_eq!(check(&two, "n", "c"), Err(BadClaims::AuthorizedParty));
        let two_azp = claims(r#"{"exp":1,"nonce":"n","aud":["c","d"],"azp":"c"}"#);
        assert_eq!(check(&two_azp, "n", "c"), Ok(()));
        let other_azp = claims(r#"{"exp":1,"nonce":"n","aud":"c","azp":"d"}"#);
        assert_eq!(check(&other_azp, "n", "c"), Err(BadClaims::AuthorizedParty));
    }

    #[test]
    fn mapping() {
        let c = claims(
            r#"{"sub":"alice","email":"a@x","groups":["staff",3,"admins"],"iss":"i","aud":"c",
                "exp":1,"iat":0,"nonce":"n","auth_time":5,"address":{"country":"NL"}}"#,
        );
        let m = map(&c, "sub", "groups").unwrap();
        assert_eq!(m.userid, Value::from("alice"));
        assert_eq!(m.groups, Some(Value::from(vec!["staff", "admins"])));
        let keys: Vec<&str> = m.attributes.keys().collect();
        assert_eq!(keys, ["sub", "email", "auth_time", "address"]);
        let by_mail = map(&c, "email", "roles").unwrap();
        assert_eq!(by_mail.userid, Value::from("a@x"));
        assert_eq!(by_mail.groups, None);
        let one = map(&claims(r#"{"sub":7,"groups":"solo"}"#), "sub", "groups").unwrap();
        assert_eq!(one.userid, Value::Int(7));
        assert_eq!(one.groups, Some(Value::from(vec!["solo"])));
        for bad in [r#"{"sub":""}"#, r#"{"sub":true}"#, r#"{}"#] {
            assert!(map(&claims(bad), "sub", "groups").is_err(), "{bad}");
        }
    }
}

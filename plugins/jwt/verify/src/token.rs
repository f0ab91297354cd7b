//! JWS compact tokens: parse, check the signature, check the registered claims against a
//! clock the caller passes in (the host's).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Verifier as _;
use rewho_plugin_api::{Map, Value};
use rsa::Pkcs1v15Sign;
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::keys::{Key, PublicKey};

/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// A signature algorithm we verify. `none` is not one, by construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms)]
pub enum Algorithm {
    /// HMAC SHA-256.
    HS256,
    /// HMAC SHA-384.
    HS384,
    /// HMAC SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 SHA-512.
    RS512,
    /// ECDSA P-256 SHA-256.
    ES256,
}

impl Algorithm {
    /// Every supported algorithm, for messages.
    pub const ALL: [Algorithm; 7] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::ES256,
    ];

    /// The JOSE name (`HS256`, …).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::ES256 => "ES256",
        }
    }

    /// Parses a JOSE name, exactly (JOSE names are case-sensitive).
    pub fn parse(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    /// `true` for the HMAC family.
    pub fn is_hmac(self) -> bool {
        matches!(self, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
    }
}

/// Why a token was not accepted: a log message, never containing the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejected {
    /// Not a JWS compact token (parts, base64, JSON).
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// `alg` is `none`, unknown, or not in `algorithms`.
    #[error("algorithm `{0}` is not accepted")]
    Algorithm(String),
    /// The header has `crit`, which we do not implement.
    #[error("token has a `crit` header, which is not supported")]
    Critical,
    /// No configured key fits the token's `alg` (and `kid`).
    #[error("no configured key fits the token's alg/kid")]
    NoKey,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// `exp` has passed (leeway included).
    #[error("token expired")]
    Expired,
    /// `nbf` is still ahead (leeway included).
    #[error("token not yet valid (nbf)")]
    NotYetValid,
    /// A time claim is not a number.
    #[error("claim `{0}` is not a number")]
    BadTimeClaim(&'static str),
    /// `aud` does not name us, or is present when no `audience` is configured.
    #[error("audience (aud) does not match")]
    Audience,
    /// `iss` is not the configured issuer.
    #[error("issuer (iss) does not match")]
    Issuer,
}

/// The configured checks: accepted algorithms, keys and claim rules.
/// `Debug` is not derived: it holds the HMAC secret.
pub struct Verifier {
    /// Accepted algorithms (never empty, never `none`).
    pub algorithms: Vec<Algorithm>,
    /// The HMAC secret, for HS*.
    pub secret: Option<Vec<u8>>,
    /// Public keys, for RS*/ES256.
    pub keys: Vec<Key>,
    /// Seconds of tolerance for `exp` and `nbf`.
    pub leeway: i64,
    /// Accepted audiences; when empty, a token with `aud` is refused (RFC 7519 4.1.3).
    pub audience: Vec<String>,
    /// The required `iss`, if any.
    pub issuer: Option<String>,
}

fn decode_json(part: &str, what: &'static str) -> Result<Map, Rejected> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Rejected::Malformed(what))?;
    serde_json::from_slice::<Map>(&bytes).map_err(|_| Rejected::Malformed(what))
}

fn hmac_ok<M: Mac + hmac::digest::KeyInit>(secret: &[u8], input: &[u8], sig: &[u8]) -> bool {
    let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(secret) else {
        return false;
    };
    mac.update(input);
    // Constant time.
    mac.verify_slice(sig).is_ok()
}

fn rsa_ok(key: &rsa::RsaPublicKey, alg: Algorithm, input: &[u8], sig: &[u8]) -> bool {
    let (scheme, hashed) = match alg {
        Algorithm::RS256 => (
            Pkcs1v15Sign::new::<Sha256>(),
            Sha256::digest(input).to_vec(),
        ),
        Algorithm::RS384 => (
            Pkcs1v15Sign::new::<Sha384>(),
            Sha384::digest(input).to_vec(),
        ),
        Algorithm::RS512 => (
            Pkcs1v15Sign::new::<Sha512>(),
            Sha512::digest(input).to_vec(),
        ),
        _ => return false,
    };
    key.verify(scheme, &hashed, sig).is_ok()
}

fn ec_ok(key: &p256::ecdsa::VerifyingKey, input: &[u8], sig: &[u8]) -> bool {
    // JWS carries r || s (64 bytes), not DER.
    sig.len() == 64
        && p256::ecdsa::Signature::from_slice(sig).is_ok_and(|sig| key.verify(input, &sig).is_ok())
}

fn time_claim(claims: &Map, name: &'static str) -> Result<Option<f64>, Rejected> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Int(i)) => Ok(Some(*i as f64)),
        Some(Value::Float(x)) if x.is_finite() => Ok(Some(*x)),
        Some(_) => Err(Rejected::BadTimeClaim(name)),
    }
}

impl Verifier {
    /// Verifies `token` at `now` (seconds since the epoch) and returns its claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<Map, Rejected> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Rejected::Malformed("too long"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Rejected::Malformed("not three dot-separated parts"));
        };
        let header = decode_json(h, "header is not base64url JSON")?;
        let alg_name = match header.get("alg") {
            Some(Value::Str(a)) => a.as_str(),
            _ => return Err(Rejected::Malformed("header has no `alg`")),
        };
        let alg = Algorithm::parse(alg_name)
            .filter(|a| self.algorithms.contains(a))
            .ok_or_else(|| Rejected::Algorithm(alg_name.chars().take(32).collect()))?;
        if header.contains_key("crit") {
            return Err(Rejected::Critical);
        }
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| Rejected::Malformed("signature is not base64url"))?;
        let input = &token.as_bytes()[..h.len() + 1 + p.len()];
        self.check_signature(alg, header.get_str("kid"), input, &sig)?;
        let claims = decode_json(p, "payload is not a base64url JSON object")?;
        self.check_claims(&claims, now)?;
        Ok(claims)
    }

    fn check_signature(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
        input: &[u8],
        sig: &[u8],
    ) -> Result<(), Rejected> {
        if alg.is_hmac() {
            let secret = self.secret.as_deref().ok_or(Rejected::NoKey)?;
            let ok = match alg {
                Algorithm::HS256 => hmac_ok::<Hmac<Sha256>>(secret, input, sig),
                Algorithm::HS384 => hmac_ok::<Hmac<Sha384>>(secret, input, sig),
                _ => hmac_ok::<Hmac<Sha512>>(secret, input, sig),
            };
            return if ok { Ok(()) } else { Err(Rejected::Signature) };
        }
        let mut candidates = self
            .keys
            .iter()
            .filter(|k| k.key.fits(alg))
            .filter(|k| k.alg.as_deref().is_none_or(|a| a == alg.name()))
            // A token naming its key is checked against that key (or keys without a kid).
            .filter(|k| match (kid, k.kid.as_deref()) {
                (Some(want), Some(have)) => want == have,
                _ => true,
            })
            .peekable();
        if candidates.peek().is_none() {
            return Err(Rejected::NoKey);
        }
        let ok = candidates.any(|k| match &k.key {
            PublicKey::Rsa(key) => rsa_ok(key, alg, input, sig),
            PublicKey::P256(key) => ec_ok(key, input, sig),
        });
        if ok {
            Ok(())
        } else {
            Err(Rejected::Signature)
        }
    }

    fn check_claims(&self, claims: &Map, now: i64) -> Result<(), Rejected> {
        let (now, leeway) = (now as f64, self.leeway as f64);
        // As PyJWT: expired when exp <= now - leeway; immature when nbf > now + leeway.
        if time_claim(claims, "exp")?.is_some_and(|exp| exp <= now - leeway) {
            return Err(Rejected::Expired);
        }
        if time_claim(claims, "nbf")?.is_some_and(|nbf| nbf > now + leeway) {
            return Err(Rejected::NotYetValid);
        }
        if let Some(issuer) = &self.issuer {
            if claims.get_str("iss") != Some(issuer.as_str()) {
                return Err(Rejected::Issuer);
            }
        }
        match claims.get("aud") {
            None if self.audience.is_empty() => {}
            None => return Err(Rejected::Audience),
            Some(aud) => {
                let named = |a: &str| self.audience.iter().any(|ours| ours == a);
                let ok = match aud {
                    Value::Str(a) => named(a.as_str()),
                    Value::List(list) => list.iter().filter_map(Value::as_str).any(named),
                    _ => false,
                };
                if !ok {
                    return Err(Rejected::Audience);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::keys;

    pub(crate) const NOW: i64 = 1_700_000_000;

    pub(crate) fn b64(data: impl AsRef<[u8]>) -> String {
        URL_SAFE_NO_PAD.encode(data)
    }

    /// Signs `claims` with HMAC under `alg` (test helper).
    pub(crate) fn hs(alg: &str, secret: &[u8], header_extra: &str, claims: &str) -> String {
        let input = format!(
            "{}.{}",
            b64(format!(r#"{{"alg":"{alg}","typ":"JWT"{header_extra}}}"#)),
            b64(claims)
        );
        let sig = match alg {
            "HS384" => {
                let mut m =
                    <Hmac<Sha384> as hmac::digest::KeyInit>::new_from_slice(secret).unwrap();
                m.update(input.as_bytes());
                m.finalize().into_bytes().to_vec()
            }
            "HS512" => {
                let mut m =
                    <Hmac<Sha512> as hmac::digest::KeyInit>::new_from_slice(secret).unwrap();
                m.update(input.as_bytes());
                m.finalize().into_bytes().to_vec()
            }
            _ => {
                let mut m =
                    <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(secret).unwrap();
                m.update(input.as_bytes());
                m.finalize().into_bytes().to_vec()
            }
        };
        format!("{input}.{}", b64(sig))
    }

    fn hs_verifier(algs: &[Algorithm]) -> Verifier {
        Verifier {
            algorithms: algs.to_vec(),
            secret: Some(b"s3cret".to_vec()),
            keys: Vec::new(),
            leeway: 0,
            audience: Vec::new(),
            issuer: None,
        }
    }

    // The widely published jwt.io HS256 example (secret `your-256-bit-secret`).
    const JWT_IO: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

    #[test]
    fn jwt_io_known_answer() {
        let v = Verifier {
            secret: Some(b"your-256-bit-secret".to_vec()),
            ..hs_verifier(&[Algorithm::HS256])
        };
        let claims = v.verify(JWT_IO, NOW).unwrap();
        assert_eq!(claims.get_str("sub"), Some("1234567890"));
        assert_eq!(claims.get("iat"), Some(&Value::Int(1516239022)));
        let wrong = hs_verifier(&[Algorithm::HS256]);
        assert_eq!(wrong.verify(JWT_IO, NOW), Err(Rejected::Signature));
    }

    #[test]
    fn hs_family_and_algorithm_list() {
        let all = hs_verifier(&[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]);
        for alg in ["HS256", "HS384", "HS512"] {
            let t = hs(alg, b"s3cret", "", r#"{"sub":"a"}"#);
            assert_eq!(all.verify(&t, NOW).unwrap().get_str("sub"), Some("a"));
        }
        // Not in the list → refused, before any key is tried.
        let only256 = hs_verifier(&[Algorithm::HS256]);
        let t = hs("HS512", b"s3cret", "", r#"{"sub":"a"}"#);
        assert_eq!(
            only256.verify(&t, NOW),
            Err(Rejected::Algorithm("HS512".into()))
        );
    }

    #[test]
    fn none_and_unknown_algorithms_are_refused() {
        let v = hs_verifier(&[Algorithm::HS256]);
        let payload = b64(r#"{"sub":"admin"}"#);
        for alg in ["none", "None", "NONE", "hs256", "PS256", ""] {
            let token = format!("{}.{payload}.", b64(format!(r#"{{"alg":"{alg}"}}"#)));
            assert_eq!(v.verify(&token, NOW), Err(Rejected::Algorithm(alg.into())));
        }
        let token = format!("{}.{payload}.", b64(r#"{"typ":"JWT"}"#));
        assert!(matches!(v.verify(&token, NOW), Err(Rejected::Malformed(_))));
    }

    #[test]
    fn malformed_tokens() {
        let v = hs_verifier(&[Algorithm::HS256]);
        let good = hs("HS256", b"s3cret", "", r#"{"sub":"a"}"#);
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            &format!("{good}.x"),
            &format!("{good}="),
            "!!!.e30.",
            &"a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(
                matches!(v.verify(bad, NOW), Err(Rejected::Malformed(_))),
                "{:.40}",
                bad
            );
        }
        // A valid signature over a payload that is not an object.
        let t = hs("HS256", b"s3cret", "", "[1,2]");
        assert!(matches!(v.verify(&t, NOW), Err(Rejected::Malformed(_))));
        // crit is refused.
        let t = hs("HS256", b"s3cret", r#","crit":["exp"]"#, r#"{"sub":"a"}"#);
        assert_eq!(v.verify(&t, NOW), Err(Rejected::Critical));
    }

    #[test]
    fn tampered_payload_fails() {
        let v = hs_verifier(&[Algorithm::HS256]);
        let t = hs("HS256", b"s3cret", "", r#"{"sub":"alice"}"#);
        let mut parts: Vec<&str> = t.split('.').collect();
        let evil = b64(r#"{"sub":"admin"}"#);
        parts[1] = &evil;
        assert_eq!(v.verify(&parts.join("."), NOW), Err(Rejected::Signature));
    }

    #[test]
    fn exp_and_nbf_with_leeway() {
        let mut v = hs_verifier(&[Algorithm::HS256]);
        let exp = hs(
            "HS256",
            b"s3cret",
            "",
            &format!(r#"{{"sub":"a","exp":{}}}"#, NOW),
        );
        assert_eq!(v.verify(&exp, NOW), Err(Rejected::Expired));
        assert!(v.verify(&exp, NOW - 1).is_ok());
        let nbf = hs(
            "HS256",
            b"s3cret",
            "",
            &format!(r#"{{"sub":"a","nbf":{}}}"#, NOW + 10),
        );
        assert_eq!(v.verify(&nbf, NOW), Err(Rejected::NotYetValid));
        assert!(v.verify(&nbf, NOW + 10).is_ok());
        v.leeway = 10;
        assert!(v.verify(&exp, NOW + 9).is_ok());
        assert_eq!(v.verify(&exp, NOW + 10), Err(Rejected::Expired));
        assert!(v.verify(&nbf, NOW).is_ok());
        let float = hs("HS256", b"s3cret", "", r#"{"exp":1.5e9}"#);
        assert!(v.verify(&float, 1_400_000_000).is_ok());
        let text = hs("HS256", b"s3cret", "", r#"{"exp":"tomorrow"}"#);
        assert_eq!(v.verify(&text, NOW), Err(Rejected::BadTimeClaim("exp")));
    }

    #[test]
    fn audience_and_issuer() {
        let mut v = hs_verifier(&[Algorithm::HS256]);
        let with_aud = hs("HS256", b"s3cret", "", r#"{"aud":["x","api"],"iss":"me"}"#);
        let no_aud = hs("HS256", b"s3cret", "", r#"{"iss":"me"}"#);
        // RFC 7519: an `aud` we are not configured for is refused.
        assert_eq!(v.verify(&with_aud, NOW), Err(Rejected::Audience));
        assert!(v.verify(&no_aud, NOW).is_ok());
        v.audience = vec!["api".into()];
        assert!(v.verify(&with_aud, NOW).is_ok());
        assert_eq!(v.verify(&no_aud, NOW), Err(Rejected::Audience));
        v.audience = vec!["other".into()];
        assert_eq!(v.verify(&with_aud, NOW), Err(Rejected::Audience));
        v.audience = vec!["api".into()];
        v.issuer = Some("me".into());
        assert!(v.verify(&with_aud, NOW).is_ok());
        v.issuer = Some("you".into());
        assert_eq!(v.verify(&with_aud, NOW), Err(Rejected::Issuer));
    }

    // RFC 7515 appendix A.2 (RS256) and A.3 (ES256): keys and tokens as the RFC prints them.
    const RFC_RSA_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
    const RFC_RS256: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
    const RFC_EC_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const RFC_EC_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const RFC_ES256: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    /// The RFC tokens expire at 1300819380.
    const RFC_NOW: i64 = 1_300_819_000;

    fn rfc_verifier(jwks: &str, algs: &[Algorithm]) -> Verifier {
        let (keys, _) = keys::from_jwks(jwks).unwrap();
        Verifier {
            algorithms: algs.to_vec(),
            secret: None,
            keys,
            leeway: 0,
            audience: Vec::new(),
            issuer: None,
        }
    }

    fn rfc_rsa_jwks(extra: &str) -> String {
        format!(r#"{{"keys":[{{"kty":"RSA","n":"{RFC_RSA_N}","e":"AQAB"{extra}}}]}}"#)
    }

    fn rfc_ec_jwks() -> String {
        format!(r#"{{"keys":[{{"kty":"EC","crv":"P-256","x":"{RFC_EC_X}","y":"{RFC_EC_Y}"}}]}}"#)
    }

    #[test]
    fn rfc7515_rs256_and_es256_known_answers() {
        let rs = rfc_verifier(&rfc_rsa_jwks(""), &[Algorithm::RS256]);
        let claims = rs.verify(RFC_RS256, RFC_NOW).unwrap();
        assert_eq!(claims.get_str("iss"), Some("joe"));
        assert_eq!(
            claims.get("http://example.com/is_root"),
            Some(&Value::Bool(true))
        );
        assert_eq!(rs.verify(RFC_RS256, 1_300_819_380), Err(Rejected::Expired));
        let es = rfc_verifier(&rfc_ec_jwks(), &[Algorithm::ES256]);
        assert_eq!(
            es.verify(RFC_ES256, RFC_NOW).unwrap().get_str("iss"),
            Some("joe")
        );
        // Each key kind checks only its own algorithm.
        let both = rfc_verifier(&rfc_ec_jwks(), &[Algorithm::RS256, Algorithm::ES256]);
        assert_eq!(both.verify(RFC_RS256, RFC_NOW), Err(Rejected::NoKey));
        // One changed character in the signature or the payload fails.
        for token in [RFC_RS256, RFC_ES256] {
            let last = token.rfind('.').unwrap();
            for index in [30, token.len() - 5, last + 3] {
                let mut bytes = token.as_bytes().to_vec();
                bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
                let changed = String::from_utf8(bytes).unwrap();
                let v = if token == RFC_RS256 { &rs } else { &es };
                assert!(v.verify(&changed, RFC_NOW).is_err(), "{index}");
            }
        }
    }

    #[test]
    fn jwks_kid_and_alg_select_keys() {
        let kidded = rfc_verifier(&rfc_rsa_jwks(r#","kid":"k1""#), &[Algorithm::RS256]);
        let mut parts = RFC_RS256.split('.');
        parts.next();
        let (p, s) = (parts.next().unwrap(), parts.next().unwrap());
        // The RFC signature covers the RFC header only, so a re-headed token cannot verify;
        // what matters is which error: an unknown kid finds no key.
        let k2 = format!("{}.{p}.{s}", b64(r#"{"alg":"RS256","kid":"k2"}"#));
        assert_eq!(kidded.verify(&k2, RFC_NOW), Err(Rejected::NoKey));
        let k1 = format!("{}.{p}.{s}", b64(r#"{"alg":"RS256","kid":"k1"}"#));
        assert_eq!(kidded.verify(&k1, RFC_NOW), Err(Rejected::Signature));
        // A key pinned to RS512 is not used for RS256.
        let pinned = rfc_verifier(&rfc_rsa_jwks(r#","alg":"RS512""#), &[Algorithm::RS256]);
        assert_eq!(pinned.verify(RFC_RS256, RFC_NOW), Err(Rejected::NoKey));
        // HS tokens need the secret, not a public key (no key confusion).
        let hs_token = hs("HS256", RFC_RSA_N.as_bytes(), "", "{}");
        let mixed = rfc_verifier(&rfc_rsa_jwks(""), &[Algorithm::RS256, Algorithm::HS256]);
        assert_eq!(mixed.verify(&hs_token, RFC_NOW), Err(Rejected::NoKey));
    }

    #[test]
    fn jwks_skips_unusable_keys() {
        let (keys, notes) = keys::from_jwks(&format!(
            r#"{{"keys":[{{"kty":"oct","k":"AAAA"}},{{"kty":"RSA","use":"enc","n":"{RFC_RSA_N}","e":"AQAB"}},{{"kty":"EC","crv":"P-256","kid":"e","x":"{RFC_EC_X}","y":"{RFC_EC_Y}"}}]}}"#
        ))
        .unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("e"));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(keys::from_jwks(r#"{"keys":[{"kty":"oct","k":"AAAA"}]}"#).is_err());
        let short = b64([0xc5u8; 128]);
        assert!(keys::from_jwks(&format!(
            r#"{{"keys":[{{"kty":"RSA","n":"{short}","e":"AQAB"}}]}}"#
        ))
        .is_err());
        assert!(keys::from_jwks("not json").is_err());
    }
}

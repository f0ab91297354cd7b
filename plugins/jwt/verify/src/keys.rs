//! Verification keys: an HMAC secret, a PEM public key, or a local JWKS file.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::VerifyingKey as EcKey;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::{BigUint, RsaPublicKey};
use serde::Deserialize;

use crate::token::Algorithm;

/// Why key material cannot be used: a message naming the problem (never key bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

impl From<String> for KeyError {
    fn from(s: String) -> Self {
        KeyError(s)
    }
}

impl From<&str> for KeyError {
    fn from(s: &str) -> Self {
        KeyError(s.to_owned())
    }
}

/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;

/// A public key of one of the supported kinds.
pub enum PublicKey {
    /// An RSA key (RS256/384/512).
    Rsa(RsaPublicKey),
    /// A P-256 key (ES256).
    P256(EcKey),
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use rsa::traits::PublicKeyParts;
        match self {
            PublicKey::Rsa(k) => write!(f, "Rsa({} bits)", k.n().bits()),
            PublicKey::P256(_) => f.write_str("P256"),
        }
    }
}

impl PublicKey {
    /// Whether this key can check `alg` signatures.
    pub fn fits(&self, alg: Algorithm) -> bool {
        matches!(
            (self, alg),
            (
                PublicKey::Rsa(_),
                Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512
            ) | (PublicKey::P256(_), Algorithm::ES256)
        )
    }
}

/// A public key with the JWKS metadata that narrows its use.
pub struct Key {
    /// `kid`, when the JWKS names it.
    pub kid: Option<String>,
    /// `alg`, when the JWKS pins it.
    pub alg: Option<String>,
    /// The key.
    pub key: PublicKey,
}

fn check_rsa(key: RsaPublicKey) -> Result<PublicKey, String> {
    use rsa::traits::PublicKeyParts;
    let bits = key.n().bits();
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "RSA key of {bits} bits is too weak (at least {MIN_RSA_BITS})"
        ));
    }
    Ok(PublicKey::Rsa(key))
}

/// Reads one public key from PEM text: `PUBLIC KEY` (RSA or P-256 SubjectPublicKeyInfo) or
/// `RSA PUBLIC KEY` (PKCS#1). Private keys and certificates are refused.
pub fn from_pem(pem: &str) -> Result<PublicKey, KeyError> {
    from_pem_text(pem).map_err(KeyError)
}

fn from_pem_text(pem: &str) -> Result<PublicKey, String> {
    if pem.contains("PRIVATE KEY-----") {
        return Err("holds a private key; give the public key only".into());
    }
    if pem.contains("-----BEGIN RSA PUBLIC KEY-----") {
        let key = RsaPublicKey::from_pkcs1_pem(pem).map_err(|e| format!("bad RSA key: {e}"))?;
        return check_rsa(key);
    }
    if !pem.contains("-----BEGIN PUBLIC KEY-----") {
        return Err("no `-----BEGIN PUBLIC KEY-----` block".into());
    }
    if let Ok(key) = RsaPublicKey::from_public_key_pem(pem) {
        return check_rsa(key);
    }
    EcKey::from_public_key_pem(pem)
        .map(PublicKey::P256)
        .map_err(|_| "not an RSA or P-256 public key (the supported kinds)".into())
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

fn b64(field: &str, value: &Option<String>) -> Result<Vec<u8>, String> {
    let value = value.as_deref().ok_or(format!("missing `{field}`"))?;
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| format!("`{field}` is not base64url"))
}

fn jwk_key(jwk: &Jwk) -> Result<PublicKey, String> {
    match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("RSA", _) => {
            let n = BigUint::from_bytes_be(&b64("n", &jwk.n)?);
            let e = BigUint::from_bytes_be(&b64("e", &jwk.e)?);
            check_rsa(RsaPublicKey::new(n, e).map_err(|e| format!("bad RSA key: {e}"))?)
        }
        ("EC", Some("P-256")) => {
            let (x, y) = (b64("x", &jwk.x)?, b64("y", &jwk.y)?);
            if x.len() != 32 || y.len() != 32 {
                return Err("P-256 coordinates must be 32 bytes".into());
            }
            let point = p256::EncodedPoint::from_affine_coordinates(
                x.as_slice().into(),
                y.as_slice().into(),
                false,
            );
            EcKey::from_encoded_point(&point)
                .map(PublicKey::P256)
                .map_err(|_| "P-256 point is not on the curve".into())
        }
        (kty, crv) => Err(format!(
            "unsupported key type `{kty}`{} (supported: RSA, EC P-256)",
            crv.map(|c| format!(" / `{c}`")).unwrap_or_default()
        )),
    }
}

/// Reads a JWKS document. Keys that cannot be used (another `kty`, `use` other than `sig`,
/// weak RSA) are skipped and described in the returned notes; a set with no usable key is an
/// error.
pub fn from_jwks(json: &str) -> Result<(Vec<Key>, Vec<String>), KeyError> {
    let set: Jwks =
        serde_json::from_str(json).map_err(|e| KeyError(format!("not a JWKS document: {e}")))?;
    let mut keys = Vec::new();
    let mut notes = Vec::new();
    for (i, jwk) in set.keys.iter().enumerate() {
        let name = jwk
            .kid
            .as_deref()
            .map(|k| format!("key `{k}`"))
            .unwrap_or_else(|| format!("key #{i}"));
        if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
            notes.push(format!("{name} skipped: not a signature key"));
            continue;
        }
        match jwk_key(jwk) {
            Ok(key) => keys.push(Key {
                kid: jwk.kid.clone(),
                alg: jwk.alg.clone(),
                key,
            }),
            Err(e) => notes.push(format!("{name} skipped: {e}")),
        }
    }
    if keys.is_empty() {
        return Err(KeyError(format!("no usable key ({})", notes.join("; "))));
    }
    Ok((keys, notes))
}

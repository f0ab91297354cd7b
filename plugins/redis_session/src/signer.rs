//! itsdangerous' `Signer`, byte for byte: `value + "." + b64url_nopad(HMAC(derive_key(secret), value))`.
//!
//! Python's defaults are `salt = b"itsdangerous.Signer"` and `key_derivation = "django-concat"`
//! (`H(salt + b"signer" + secret)`); the digest is configurable (itsdangerous defaults to
//! SHA-1, the original middleware to SHA-256, and so do we).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::digest::core_api::BlockSizeUser;
use hmac::digest::{Digest, KeyInit};
use hmac::{Mac, SimpleHmac};
use serde::Deserialize;

/// The digest itsdangerous is told to use (`digest_method`), by its `hashlib` name.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum DigestAlgorithm {
    /// `hashlib.sha1` (itsdangerous' own default).
    Sha1,
    /// `hashlib.sha224`.
    Sha224,
    /// `hashlib.sha256` (the original middleware's default, and ours).
    #[default]
    Sha256,
    /// `hashlib.sha384`.
    Sha384,
    /// `hashlib.sha512`.
    Sha512,
}

/// How the signing key is derived from the secret (`key_derivation`).
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum KeyDerivation {
    /// `H(salt + secret)`.
    Concat,
    /// `H(salt + "signer" + secret)`: itsdangerous' default.
    #[default]
    DjangoConcat,
    /// `HMAC(secret, salt)`.
    Hmac,
    /// The secret itself.
    None,
}

/// A configured signer. `Debug` is not derived: it holds the derived key.
pub struct Signer {
    algorithm: DigestAlgorithm,
    key: Vec<u8>,
}

fn hash<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
    let mut h = D::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().to_vec()
}

fn hmac<D: Digest + BlockSizeUser>(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length: this never fails.
    let mut mac = <SimpleHmac<D> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

macro_rules! by_algorithm {
    ($alg:expr, $f:ident ( $($arg:expr),* )) => {
        match $alg {
            DigestAlgorithm::Sha1 => $f::<sha1::Sha1>($($arg),*),
            DigestAlgorithm::Sha224 => $f::<sha2::Sha224>($($arg),*),
            DigestAlgorithm::Sha256 => $f::<sha2::Sha256>($($arg),*),
            DigestAlgorithm::Sha384 => $f::<sha2::Sha384>($($arg),*),
            DigestAlgorithm::Sha512 => $f::<sha2::Sha512>($($arg),*),
        }
    };
}

impl Signer {
    /// A signer for `secret` with itsdangerous' parameters.
    pub fn new(
        secret: &[u8],
        salt: &[u8],
        derivation: KeyDerivation,
        algorithm: DigestAlgorithm,
    ) -> Signer {
        let key = match derivation {
            KeyDerivation::Concat => by_algorithm!(algorithm, hash(&[salt, secret])),
            KeyDerivation::DjangoConcat => {
                by_algorithm!(algorithm, hash(&[salt, b"signer", secret]))
            }
            KeyDerivation::Hmac => by_algorithm!(algorithm, hmac(secret, salt)),
            KeyDerivation::None => secret.to_vec(),
        };
        Signer { algorithm, key }
    }

    fn signature(&self, value: &[u8]) -> Vec<u8> {
        by_algorithm!(self.algorithm, hmac(&self.key, value))
    }

    /// `value + "." + signature`, as `Signer.sign` returns it. The plugin only verifies; this
    /// is for the interop tests.
    #[cfg(test)]
    pub fn sign(&self, value: &str) -> String {
        let sig = URL_SAFE_NO_PAD.encode(self.signature(value.as_bytes()));
        format!("{value}.{sig}")
    }

    /// The value when `signed` carries a valid signature (`Signer.unsign`), else `None`.
    ///
    /// The signature is split at the last `.`, decoded as URL-safe base64 without padding and
    /// compared with the expected HMAC in constant time.
    pub fn unsign<'a>(&self, signed: &'a str) -> Option<&'a str> {
        let (value, sig) = signed.rsplit_once('.')?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let expected = self.signature(value.as_bytes());
        rewho_plugin_api::constant_time_eq(&sig, &expected).then_some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "6f1c2a9e-0000-4000-8000-000000000001";

    fn default_signer(secret: &str, alg: DigestAlgorithm) -> Signer {
        Signer::new(
            secret.as_bytes(),
            b"itsdangerous.Signer",
            KeyDerivation::DjangoConcat,
            alg,
        )
    }

    #[test]
    fn known_vector_sha256() {
        let s = default_signer("secret", DigestAlgorithm::Sha256);
        let signed =
            "6f1c2a9e-0000-4000-8000-000000000001.y-XZYouYTueRKmtFizTDAl-S0aAlce5KibHQgys3qio";
        assert_eq!(s.sign(UUID), signed);
        assert_eq!(s.unsign(signed), Some(UUID));
    }

    #[test]
    fn rejects_tampering_wrong_key_and_garbage() {
        let s = default_signer("secret", DigestAlgorithm::Sha256);
        let signed = s.sign(UUID);
        // Flip one character of the value, of the signature, and use another secret.
        let mut v = signed.clone().into_bytes();
        v[0] = b'7';
        assert_eq!(s.unsign(std::str::from_utf8(&v).unwrap()), None);
        let mut v = signed.clone().into_bytes();
        let last = v.len() - 1;
        v[last] = if v[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(s.unsign(std::str::from_utf8(&v).unwrap()), None);
        assert_eq!(
            default_signer("other", DigestAlgorithm::Sha256).unsign(&signed),
            None
        );
        // Another digest, no separator, an empty or non-base64 signature, padding.
        assert_eq!(
            default_signer("secret", DigestAlgorithm::Sha1).unsign(&signed),
            None
        );
        for bad in [UUID, "", ".", "x.", "x.!!!!", &format!("{signed}=")] {
            assert_eq!(s.unsign(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn value_may_contain_dots() {
        let s = default_signer("k", DigestAlgorithm::Sha512);
        let signed = s.sign("a.b.c");
        assert_eq!(s.unsign(&signed), Some("a.b.c"));
    }

    /// The interop venv's Python: `$REWHO_PYTHON` or `<workspace>/.venv/bin/python`.
    fn python() -> std::path::PathBuf {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = std::env::var_os("REWHO_PYTHON")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| root.join(".venv/bin/python"));
        assert!(
            python.exists(),
            "{} is missing: the itsdangerous interop tests need the Python venv; create it \
             with `bash tests/python/setup-venv.sh` (or set REWHO_PYTHON)",
            python.display()
        );
        python
    }

    /// Runs `tests/python/itsdangerous_oracle.py` and returns its output lines.
    fn oracle(args: &[&str]) -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let out = std::process::Command::new(python())
            .arg(root.join("tests/python/itsdangerous_oracle.py"))
            .args(args)
            .output()
            .expect("run the itsdangerous oracle");
        assert!(
            out.status.success(),
            "itsdangerous oracle failed (is itsdangerous installed? run \
             `bash tests/python/setup-venv.sh`):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    const VALUES: [&str; 3] = [UUID, "a.b", "0"];

    #[test]
    fn values_signed_by_python_itsdangerous_are_accepted() {
        for (alg, ours) in [
            ("sha256", DigestAlgorithm::Sha256),
            ("sha1", DigestAlgorithm::Sha1),
        ] {
            let mut args = vec!["sign", "--secret", "s3cr\u{e9}t", "--alg", alg];
            args.extend(VALUES);
            let signed = oracle(&args);
            assert_eq!(signed.len(), VALUES.len());
            let s = default_signer("s3cr\u{e9}t", ours);
            for (value, signed) in VALUES.iter().zip(&signed) {
                assert_eq!(s.unsign(signed), Some(*value), "{alg}: {signed}");
                assert_eq!(&s.sign(value), signed, "{alg}: same bytes as Python");
            }
        }
    }

    #[test]
    fn values_we_sign_are_accepted_by_python_itsdangerous() {
        for (alg, ours) in [
            ("sha256", DigestAlgorithm::Sha256),
            ("sha1", DigestAlgorithm::Sha1),
            ("sha512", DigestAlgorithm::Sha512),
        ] {
            let s = Signer::new(b"secret", b"my-salt", KeyDerivation::DjangoConcat, ours);
            let signed: Vec<String> = VALUES.iter().map(|v| s.sign(v)).collect();
            let mut args = vec![
                "unsign", "--secret", "secret", "--alg", alg, "--salt", "my-salt",
            ];
            args.extend(signed.iter().map(String::as_str));
            // And one tampered value, which Python must reject too.
            let tampered = signed[0].replacen('6', "7", 1);
            args.push(&tampered);
            let out = oracle(&args);
            let mut expected: Vec<String> = VALUES.iter().map(|v| v.to_string()).collect();
            expected.push("BadSignature".into());
            assert_eq!(out, expected, "{alg}");
        }
    }
}

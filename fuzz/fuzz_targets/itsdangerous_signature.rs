//! `value.signature` strings → itsdangerous `Signer::unsign` for every digest and key
//! derivation. Nothing may panic, and random input must never verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rewho_plugin_redis_session::signer::{DigestAlgorithm, KeyDerivation, Signer};

const ALGOS: [DigestAlgorithm; 5] = [
    DigestAlgorithm::Sha1,
    DigestAlgorithm::Sha224,
    DigestAlgorithm::Sha256,
    DigestAlgorithm::Sha384,
    DigestAlgorithm::Sha512,
];
const DERIVATIONS: [KeyDerivation; 4] = [
    KeyDerivation::Concat,
    KeyDerivation::DjangoConcat,
    KeyDerivation::Hmac,
    KeyDerivation::None,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(signed) = std::str::from_utf8(rest) else {
        return;
    };
    let algo = ALGOS[usize::from(selector & 0x0f) % ALGOS.len()];
    let derivation = DERIVATIONS[usize::from(selector >> 4) % DERIVATIONS.len()];
    let signer = Signer::new(b"fuzz-secret", b"itsdangerous.Signer", derivation, algo);
    if let Some(value) = signer.unsign(signed) {
        // Only possible if the fuzzer found an HMAC: then it must be a real prefix.
        assert!(signed.starts_with(value));
        assert_eq!(signed.as_bytes().get(value.len()), Some(&b'.'));
    }
});

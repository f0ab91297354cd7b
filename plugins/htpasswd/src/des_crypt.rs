//! Traditional Unix DES `crypt(3)`: what `htpasswd -d` writes (13 characters: a 2-character
//! salt and 11 characters of hash).
//!
//! The password's first eight bytes, seven bits each, form the DES key; the salt swaps pairs of
//! bits in the expansion table; a zero block is encrypted 25 times. Written bit by bit for
//! clarity (a call takes a few tens of microseconds), checked against the DES test vector,
//! Python's `crypt` module and Apache's `htpasswd -d`.

const IP: [u8; 64] = [
    58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6,
    64, 56, 48, 40, 32, 24, 16, 8, 57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, 61,
    53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
];

const FP: [u8; 64] = [
    40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31, 38, 6, 46, 14, 54, 22, 62, 30,
    37, 5, 45, 13, 53, 21, 61, 29, 36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27,
    34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9, 49, 17, 57, 25,
];

const E: [u8; 48] = [
    32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17, 16, 17, 18,
    19, 20, 21, 20, 21, 22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1,
];

const P: [u8; 32] = [
    16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19,
    13, 30, 6, 22, 11, 4, 25,
];

const PC1: [u8; 56] = [
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60,
    52, 44, 36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45, 37, 29,
    21, 13, 5, 28, 20, 12, 4,
];

const PC2: [u8; 48] = [
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, 41, 52,
    31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];

const SHIFTS: [usize; 16] = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];

const S: [[u8; 64]; 8] = [
    [
        14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12,
        11, 9, 5, 3, 8, 4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9,
        1, 7, 5, 11, 3, 14, 10, 0, 6, 13,
    ],
    [
        15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1,
        10, 6, 9, 11, 5, 0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15,
        4, 2, 11, 6, 7, 12, 0, 5, 14, 9,
    ],
    [
        10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5,
        14, 12, 11, 15, 1, 13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6,
        9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12,
    ],
    [
        7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2,
        12, 1, 10, 14, 9, 10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1,
        13, 8, 9, 4, 5, 11, 12, 7, 2, 14,
    ],
    [
        2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15,
        10, 3, 9, 8, 6, 4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14,
        2, 13, 6, 15, 0, 9, 10, 4, 5, 3,
    ],
    [
        12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13,
        14, 0, 11, 3, 8, 9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5,
        15, 10, 11, 14, 1, 7, 6, 0, 8, 13,
    ],
    [
        4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5,
        12, 2, 15, 8, 6, 1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4,
        10, 7, 9, 5, 0, 15, 14, 2, 3, 12,
    ],
    [
        13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6,
        11, 0, 14, 9, 2, 7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10,
        8, 13, 15, 12, 9, 0, 3, 5, 6, 11,
    ],
];

/// The crypt alphabet: `./0-9A-Za-z`.
pub const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The value of one crypt-alphabet character.
pub fn a64_value(c: u8) -> Option<u8> {
    ITOA64.iter().position(|&x| x == c).map(|p| p as u8)
}

/// 64 bits, one per byte, most significant first.
type Bits64 = [u8; 64];

fn to_bits(bytes: [u8; 8]) -> Bits64 {
    let mut out = [0u8; 64];
    for (i, bit) in out.iter_mut().enumerate() {
        *bit = (bytes[i / 8] >> (7 - i % 8)) & 1;
    }
    out
}

fn from_bits(bits: &Bits64) -> [u8; 8] {
    let mut out = [0u8; 8];
    for (i, &bit) in bits.iter().enumerate() {
        out[i / 8] |= bit << (7 - i % 8);
    }
    out
}

/// The sixteen 48-bit round keys of `key`.
fn key_schedule(key: &Bits64) -> [[u8; 48]; 16] {
    let mut cd = [0u8; 56];
    for (i, &p) in PC1.iter().enumerate() {
        cd[i] = key[usize::from(p) - 1];
    }
    let mut keys = [[0u8; 48]; 16];
    for (round, &shift) in SHIFTS.iter().enumerate() {
        cd[..28].rotate_left(shift);
        cd[28..].rotate_left(shift);
        for (i, &p) in PC2.iter().enumerate() {
            keys[round][i] = cd[usize::from(p) - 1];
        }
    }
    keys
}

/// One DES encryption of `block` with the round keys and a (possibly salted) expansion table.
fn encrypt(block: &Bits64, keys: &[[u8; 48]; 16], e: &[usize; 48]) -> Bits64 {
    let mut lr = [0u8; 64];
    for (i, &p) in IP.iter().enumerate() {
        lr[i] = block[usize::from(p) - 1];
    }
    let (mut l, mut r) = ([0u8; 32], [0u8; 32]);
    l.copy_from_slice(&lr[..32]);
    r.copy_from_slice(&lr[32..]);
    for key in keys {
        let mut f = [0u8; 32];
        for (t, sbox) in S.iter().enumerate() {
            let x = |j: usize| r[e[6 * t + j]] ^ key[6 * t + j];
            let row = usize::from(x(0) << 1 | x(5));
            let col = usize::from(x(1) << 3 | x(2) << 2 | x(3) << 1 | x(4));
            let v = sbox[row * 16 + col];
            for b in 0..4 {
                f[4 * t + b] = (v >> (3 - b)) & 1;
            }
        }
        let mut next = [0u8; 32];
        for (i, &p) in P.iter().enumerate() {
            next[i] = l[i] ^ f[usize::from(p) - 1];
        }
        l = r;
        r = next;
    }
    let mut pre = [0u8; 64];
    pre[..32].copy_from_slice(&r);
    pre[32..].copy_from_slice(&l);
    let mut out = [0u8; 64];
    for (i, &p) in FP.iter().enumerate() {
        out[i] = pre[usize::from(p) - 1];
    }
    out
}

/// Plain DES: encrypts one 8-byte block (used to check the tables against FIPS vectors).
pub fn des_encrypt_block(key: [u8; 8], block: [u8; 8]) -> [u8; 8] {
    let mut e = [0usize; 48];
    for (i, &p) in E.iter().enumerate() {
        e[i] = usize::from(p) - 1;
    }
    from_bits(&encrypt(&to_bits(block), &key_schedule(&to_bits(key)), &e))
}

/// `crypt(password, salt)` for a traditional DES salt (two crypt-alphabet characters).
///
/// Returns the 13-character hash, or `None` for a salt outside the alphabet (libxcrypt
/// refuses those too). The password stops at its first NUL byte, as a C string would, and
/// only its first eight bytes count.
pub fn des_crypt(password: &[u8], salt: [u8; 2]) -> Option<String> {
    let salt_values = [a64_value(salt[0])?, a64_value(salt[1])?];
    let mut key = [0u8; 8];
    for (k, &c) in key.iter_mut().zip(password.iter().take_while(|&&c| c != 0)) {
        *k = c << 1;
    }
    let keys = key_schedule(&to_bits(key));
    let mut e = [0usize; 48];
    for (i, &p) in E.iter().enumerate() {
        e[i] = usize::from(p) - 1;
    }
    for (i, &v) in salt_values.iter().enumerate() {
        for j in 0..6 {
            if (v >> j) & 1 == 1 {
                e.swap(6 * i + j, 6 * i + j + 24);
            }
        }
    }
    let mut block = [0u8; 64];
    for _ in 0..25 {
        block = encrypt(&block, &keys, &e);
    }
    let mut out = String::with_capacity(13);
    out.push(char::from(salt[0]));
    out.push(char::from(salt[1]));
    for i in 0..11 {
        let mut c = 0u8;
        for j in 0..6 {
            let bit = block.get(6 * i + j).copied().unwrap_or(0);
            c = c << 1 | bit;
        }
        out.push(char::from(ITOA64[usize::from(c)]));
    }
    Some(out)
}

/// `true` when `hash` has the shape of a DES crypt hash: 13 crypt-alphabet characters.
pub fn is_des_hash(hash: &str) -> bool {
    hash.len() == 13 && hash.bytes().all(|b| a64_value(b).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn des_tables_match_the_standard_vector() {
        // The classic worked example (key 133457799BBCDFF1).
        let c = des_encrypt_block(
            [0x13, 0x34, 0x57, 0x79, 0x9B, 0xBC, 0xDF, 0xF1],
            [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF],
        );
        assert_eq!(c, [0x85, 0xE8, 0x13, 0x54, 0x0F, 0x0A, 0xB4, 0x05]);
    }

    #[test]
    fn crypt_matches_python_crypt_module() {
        // crypt.crypt(password, salt) with CPython 3.11 on glibc/libxcrypt.
        for (password, salt, expected) in VECTORS {
            let salt = [salt.as_bytes()[0], salt.as_bytes()[1]];
            assert_eq!(
                des_crypt(password.as_bytes(), salt).as_deref(),
                Some(*expected),
                "{password}"
            );
        }
        assert_eq!(des_crypt(b"x", *b"!!"), None);
        assert!(is_des_hash("2K/sPqvCqdmqQ"));
        assert!(!is_des_hash("2K/sPqvCqdmq"));
        assert!(!is_des_hash("2K/sPqvCqdmq$"));
    }

    const VECTORS: &[(&str, &str, &str)] = &[
        ("test", "aa", "aaqPiZY5xR5l."),
        ("password", "ab", "abJnggxhB/yWI"),
        ("", "./", "./Una9Fi.seRo"),
        ("pässwörd", "zZ", "zZw8laZTywrOQ"),
        ("longerthan8chars", "Q9", "Q9nlDc98IiP4M"),
        ("longerth", "Q9", "Q9nlDc98IiP4M"),
        ("a", "..", "..4/MD05HLWjI"),
        ("hello world", "/.", "/.W2oXH8hmpsg"),
        ("~!@#$%^&", "x1", "x165SMgMXKkDs"),
    ];
}

//! MD5-crypt (Poul-Henning Kamp's algorithm) with Apache's `$apr1$` magic, which is what
//! `htpasswd -m` (the default) writes, and with glibc's `$1$` magic.

use md5::{Digest, Md5};

use crate::des_crypt::ITOA64;

fn to64(out: &mut String, mut v: u32, n: usize) {
    for _ in 0..n {
        out.push(char::from(ITOA64[(v & 0x3f) as usize]));
        v >>= 6;
    }
}

/// `crypt(password, magic + salt)`: returns `magic + salt + "$" + 22 characters`.
///
/// `magic` is `$apr1$` or `$1$`; the salt stops at its first `$` and at eight characters.
pub fn md5_crypt(password: &[u8], salt: &str, magic: &str) -> String {
    let salt = salt.split('$').next().unwrap_or("");
    let salt = &salt.as_bytes()[..salt.len().min(8)];

    let mut ctx = Md5::new();
    ctx.update(password);
    ctx.update(magic.as_bytes());
    ctx.update(salt);

    let mut alt = Md5::new();
    alt.update(password);
    alt.update(salt);
    alt.update(password);
    let alt = alt.finalize();

    let mut left = password.len();
    while left > 0 {
        let n = left.min(16);
        ctx.update(&alt[..n]);
        left -= n;
    }
    let mut i = password.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize();

    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(password);
        } else {
            c.update(fin);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(password);
        }
        if round & 1 == 1 {
            c.update(fin);
        } else {
            c.update(password);
        }
        fin = c.finalize();
    }

    let f = |i: usize| u32::from(fin[i]);
    let mut out = String::with_capacity(magic.len() + salt.len() + 23);
    out.push_str(magic);
    out.push_str(&String::from_utf8_lossy(salt));
    out.push('$');
    to64(&mut out, f(0) << 16 | f(6) << 8 | f(12), 4);
    to64(&mut out, f(1) << 16 | f(7) << 8 | f(13), 4);
    to64(&mut out, f(2) << 16 | f(8) << 8 | f(14), 4);
    to64(&mut out, f(3) << 16 | f(9) << 8 | f(15), 4);
    to64(&mut out, f(4) << 16 | f(10) << 8 | f(5), 4);
    to64(&mut out, f(11), 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_known_hashes() {
        // `openssl passwd -apr1 -salt …` and Python's crypt.crypt(…, '$1$…') (glibc).
        let cases: &[(&[u8], &str, &str, &str)] = &[
            (
                b"password",
                "9Wd1TL4L",
                "$apr1$",
                "$apr1$9Wd1TL4L$AnnOoriysoLQDZT2GM1y40",
            ),
            (b"", "ab", "$apr1$", "$apr1$ab$S8K6Sgp3W8c9Jb6LxgywZ."),
            (
                b"password",
                "saltsalt",
                "$1$",
                "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/",
            ),
            (b"", "ab", "$1$", "$1$ab$rn6aQS/o7141mj179E/zA."),
            (&[b'x'; 40], "ab", "$1$", "$1$ab$jtRvJqDWXi2dyYBnMmGYN/"),
            // Salts stop at `$` and at eight characters.
            (
                b"password",
                "saltsaltEXTRA$x",
                "$1$",
                "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/",
            ),
        ];
        for (password, salt, magic, expected) in cases {
            assert_eq!(md5_crypt(password, salt, magic), *expected, "{salt}");
        }
    }
}

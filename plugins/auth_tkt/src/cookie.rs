//! The `Set-Cookie` headers of remember and forget, formatted exactly as repoze.who's
//! `AuthTktCookiePlugin._get_cookies` formats them.

use rewho_plugin_api::HeaderField;

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 → (year, month 1–12, day 1–31), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `Wdy, DD Mon YYYY HH:MM:SS GMT` for `secs` since the epoch, as repoze.who writes
/// `Expires` (`"%s, %02d %3s %4d %02d:%02d:%02d GMT"`).
pub fn http_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday (index 3 with Monday = 0).
    let weekday = WEEKDAYS[(days + 3).rem_euclid(7) as usize];
    let month = MONTHS[(month - 1) as usize];
    format!(
        "{weekday}, {day:02} {month} {year:4} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The attributes after `Path=/` (and the domain) that every cookie of one plugin shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieAttrs {
    /// `; secure`.
    pub secure: bool,
    /// `; HttpOnly`.
    pub httponly: bool,
    /// `; SameSite=<value>`.
    pub samesite: Option<String>,
}

impl CookieAttrs {
    fn suffix(&self) -> String {
        let mut s = String::new();
        if self.secure {
            s.push_str("; secure");
        }
        if self.httponly {
            s.push_str("; HttpOnly");
        }
        if let Some(v) = &self.samesite {
            s.push_str("; SameSite=");
            s.push_str(v);
        }
        s
    }
}

/// `true` when `domain` is safe to put into a `Domain=` attribute (no `;`, spaces, quotes…).
fn plain_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'[' | b']' | b':')
        })
}

/// The three `Set-Cookie` headers: no domain, `Domain=<host>`, `Domain=.<host>`.
///
/// `max_age` (seconds) adds `Max-Age` and an `Expires` computed from `now_secs`. `domain` is
/// the request's host without its port; if it holds anything but host-name characters (a
/// forged `Host` header), only the first, domain-less cookie is produced.
pub fn set_cookies(
    name: &str,
    value: &str,
    domain: &str,
    max_age: Option<i64>,
    now_secs: i64,
    attrs: &CookieAttrs,
) -> Vec<HeaderField> {
    let age = match max_age {
        Some(age) => format!(
            "; Max-Age={age}; Expires={}",
            http_date(now_secs.saturating_add(age))
        ),
        None => String::new(),
    };
    let tail = attrs.suffix();
    let mut out = vec![HeaderField::new(
        "Set-Cookie",
        format!("{name}=\"{value}\"; Path=/{age}{tail}"),
    )];
    if plain_domain(domain) {
        out.push(HeaderField::new(
            "Set-Cookie",
            format!("{name}=\"{value}\"; Path=/; Domain={domain}{age}{tail}"),
        ));
        out.push(HeaderField::new(
            "Set-Cookie",
            format!("{name}=\"{value}\"; Path=/; Domain=.{domain}{age}{tail}"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_match_python() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        // datetime.datetime(2021, 1, 13, 22, 23, 1) → Wed
        assert_eq!(http_date(1_610_576_581), "Wed, 13 Jan 2021 22:23:01 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(4_102_444_799), "Thu, 31 Dec 2099 23:59:59 GMT");
        assert_eq!(http_date(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
    }

    #[test]
    fn three_cookies_with_attributes() {
        let attrs = CookieAttrs {
            secure: true,
            httponly: true,
            samesite: Some("Lax".into()),
        };
        let h = set_cookies("auth_tkt", "V", "localhost", Some(0), 0, &attrs);
        let values: Vec<&str> = h.iter().map(|h| h.value.as_str()).collect();
        assert_eq!(
            values,
            [
                "auth_tkt=\"V\"; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; secure; HttpOnly; SameSite=Lax",
                "auth_tkt=\"V\"; Path=/; Domain=localhost; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; secure; HttpOnly; SameSite=Lax",
                "auth_tkt=\"V\"; Path=/; Domain=.localhost; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; secure; HttpOnly; SameSite=Lax",
            ]
        );
        let plain = CookieAttrs {
            secure: false,
            httponly: false,
            samesite: None,
        };
        let h = set_cookies("t", "V", "evil.com; x=y", None, 0, &plain);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].value.as_str(), "t=\"V\"; Path=/");
    }
}

//! Which option values are secrets, so that `Debug` output and error messages never show
//! them (a `{:?}` of a [`Config`](super::Config) ends up in logs and test failures).

/// `true` for option names whose values must not be shown: `secret`, `secret_key`,
/// `password`, `admin_token_sha256`, `hmac_key`, … but not `secretfile` (a path) or
/// `key_items` (a list of names). Errs on the side of hiding.
pub(crate) fn is_secret_option(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    if key.ends_with("file") || key.ends_with("_name") || key.ends_with("path") {
        return false;
    }
    ["secret", "password", "passwd", "token", "credential"]
        .iter()
        .any(|w| key.contains(w))
        || key.ends_with("key")
}

/// `value` with the password of every `scheme://user:password@host` URL in it replaced by
/// `***` (`redis_url = redis://:pw@host`), or `None` when it holds no such password.
pub(crate) fn hide_url_passwords(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    let mut hid = false;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rsplit_once('@') {
            Some((userinfo, host)) if userinfo.contains(':') => {
                let user = userinfo.split_once(':').map_or("", |(u, _)| u);
                out.push_str(user);
                out.push_str(":***@");
                out.push_str(host);
                hid = true;
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    hid.then_some(out)
}

/// A value shown as `<hidden, N bytes>` in `Debug` output.
pub(crate) struct Hidden(pub(crate) usize);

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<hidden, {} bytes>", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::{hide_url_passwords, is_secret_option};

    #[test]
    fn url_passwords() {
        assert_eq!(
            hide_url_passwords("redis://:hunter2@localhost:6379/0").as_deref(),
            Some("redis://:***@localhost:6379/0")
        );
        assert_eq!(
            hide_url_passwords("a redis://u:p@ss@h/1 b://x:y@z").as_deref(),
            Some("a redis://u:***@h/1 b://x:***@z")
        );
        assert_eq!(hide_url_passwords("redis://127.0.0.1:6379"), None);
        assert_eq!(hide_url_passwords("redis://user@h"), None);
        assert_eq!(hide_url_passwords("plain"), None);
    }

    #[test]
    fn secret_option_names() {
        for k in [
            "secret",
            "SECRET",
            "secret_key",
            "password",
            "admin_token_sha256",
            "hmac_key",
            "api_token",
        ] {
            assert!(is_secret_option(k), "{k}");
        }
        for k in [
            "secretfile",
            "use",
            "cookie_name",
            "key_items",
            "filename",
            "ttl",
        ] {
            assert!(!is_secret_option(k), "{k}");
        }
    }
}

//! The HTML rewho serves itself: the login form and the demo page. Every value is escaped.

use crate::{Identity, OwnedRequest, Value, USERID_KEY};

/// Escapes text for HTML element content and double-quoted attributes.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;\
padding:0 1rem;color:#222}label{display:block;margin:.6rem 0}input{font-size:1rem}\
.message{color:#a00}table{border-collapse:collapse}td,th{border:1px solid #ccc;\
padding:.3rem .6rem;text-align:left;vertical-align:top}code{background:#f4f4f4}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width\"><title>{}</title>\
<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n",
        escape(title)
    )
}

/// The login form, posting `login`, `password`, `came_from` and the CSRF token to
/// `/_rewho/login`.
pub(crate) fn login_form(came_from: &str, message: Option<&str>, token: &str) -> String {
    let message = message
        .map(|m| format!("<p class=\"message\" role=\"alert\">{}</p>\n", escape(m)))
        .unwrap_or_default();
    page(
        "Log in",
        &format!(
            "<h1>Log in</h1>\n{message}<form method=\"post\" action=\"/_rewho/login\">\n\
<input type=\"hidden\" name=\"came_from\" value=\"{}\">\n\
<input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\n\
<label>Login <input name=\"login\" autocomplete=\"username\" autofocus required></label>\n\
<label>Password <input name=\"password\" type=\"password\" \
autocomplete=\"current-password\"></label>\n\
<button type=\"submit\">Log in</button>\n</form>",
            escape(came_from),
            escape(token)
        ),
    )
}

/// The logout page: one button posting `came_from` and the CSRF token to `/_rewho/logout`
/// (a `GET` never logs out, so a link or an image on another site cannot).
pub(crate) fn logout_form(came_from: &str, token: &str) -> String {
    page(
        "Log out",
        &format!(
            "<h1>Log out</h1>\n<form method=\"post\" action=\"/_rewho/logout\">\n\
<input type=\"hidden\" name=\"came_from\" value=\"{}\">\n\
<input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\n\
<button type=\"submit\">Log out</button>\n</form>",
            escape(came_from),
            escape(token)
        ),
    )
}

/// Identity keys never shown, whatever a plugin put there.
fn hidden(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "secret", "token", "ticket", "credential"]
        .iter()
        .any(|s| k.contains(s))
}

fn show(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        other => other.to_display_string(),
    }
}

/// The demo page for a signed-in user: the identity, the headers an upstream would get.
pub(crate) fn demo_page(
    identity: &Identity,
    request: &OwnedRequest,
    downstream: &[(String, String)],
) -> String {
    let userid = identity.get(USERID_KEY).map(show).unwrap_or_default();
    let mut rows = String::new();
    for (k, v) in identity.iter() {
        let value = if hidden(k) {
            "<em>(hidden)</em>".to_owned()
        } else {
            format!("<code>{}</code>", escape(&show(v)))
        };
        rows.push_str(&format!(
            "<tr><th>{}</th><td>{value}</td></tr>\n",
            escape(k)
        ));
    }
    let mut headers = String::new();
    for (n, v) in downstream {
        headers.push_str(&format!(
            "<tr><th>{}</th><td><code>{}</code></td></tr>\n",
            escape(n),
            escape(v)
        ));
    }
    page(
        "rewho demo",
        &format!(
            "<h1>Hello, {}</h1>\n<p>rewho authenticated this request for <code>{}</code> \
from <code>{}</code>. Run <code>rewho serve --upstream URL</code> to put it in front of \
your own application.</p>\n<h2>Identity</h2>\n<table>\n{rows}</table>\n\
<h2>Headers an upstream receives</h2>\n<table>\n{headers}</table>\n\
<p><a href=\"/_rewho/logout\">Log out</a></p>",
            escape(&userid),
            escape(&request.url_string()),
            escape(&request.client_addr),
        ),
    )
}

/// Where to send the browser after login or logout: `came_from` when it stays on this site,
/// else `/`.
///
/// Accepted: a path starting with exactly one `/` (not `//` or `/\`, which browsers read as
/// another host), or an absolute `http(s)` URL whose scheme and host are the request's own
/// (the redirector sends the full original URL), reduced to its path. No control characters.
pub(crate) fn safe_came_from(raw: &str, request: &OwnedRequest) -> String {
    let raw = raw.trim();
    if raw.is_empty() || raw.chars().any(|c| c.is_control()) {
        return "/".to_owned();
    }
    let local = |p: &str| {
        p.starts_with('/') && !p.starts_with("//") && !p.starts_with("/\\") && !p.contains('\\')
    };
    if local(raw) {
        return raw.to_owned();
    }
    if let Some((scheme, rest)) = raw.split_once("://") {
        let (host, path) = rest
            .find(['/', '?', '#'])
            .map_or((rest, ""), |i| rest.split_at(i));
        let path = if path.is_empty() || !path.starts_with('/') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        if scheme.eq_ignore_ascii_case(&request.scheme)
            && !host.contains('@')
            && host.eq_ignore_ascii_case(&request.host)
            && local(&path)
        {
            return path;
        }
    }
    "/".to_owned()
}

trait UrlString {
    fn url_string(&self) -> String;
}

impl UrlString for OwnedRequest {
    fn url_string(&self) -> String {
        let mut url = format!("{}://{}{}", self.scheme, self.host, self.path);
        if !self.query.is_empty() {
            url.push('?');
            url.push_str(&self.query);
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> OwnedRequest {
        let mut r = OwnedRequest::get("/_rewho/login");
        r.host = "app.example:8080".into();
        r.scheme = "https".into();
        r
    }

    #[test]
    fn came_from_stays_on_site() {
        let r = req();
        for (given, want) in [
            ("/private?x=1", "/private?x=1"),
            ("https://app.example:8080/private?x=1", "/private?x=1"),
            ("HTTPS://APP.EXAMPLE:8080", "/"),
            ("https://app.example:8080?q", "/?q"),
            ("//evil.example/x", "/"),
            ("/\\evil.example", "/"),
            ("https://evil.example/", "/"),
            ("http://app.example:8080/x", "/"),
            ("https://app.example:8080@evil.example/", "/"),
            ("javascript:alert(1)", "/"),
            ("/ok\r\nSet-Cookie: x=1", "/"),
            ("private", "/"),
            ("", "/"),
        ] {
            assert_eq!(safe_came_from(given, &r), want, "{given}");
        }
    }

    #[test]
    fn forms_escape_everything() {
        let html = login_form("\"><script>alert(1)</script>", Some("<b>bad</b>"), "\"><x>");
        assert!(!html.contains("<script>"));
        assert!(html.contains("&quot;&gt;&lt;script&gt;"));
        assert!(html.contains("&lt;b&gt;bad&lt;/b&gt;"));
        let mut id = Identity::new();
        id.insert(USERID_KEY, "<img src=x>");
        id.insert("password", "hunter2");
        let html = demo_page(&id, &req(), &[("X-Remote-User".into(), "<i>".into())]);
        assert!(!html.contains("hunter2"));
        assert!(!html.contains("<img"));
        assert!(!html.contains("<i>"));
    }
}

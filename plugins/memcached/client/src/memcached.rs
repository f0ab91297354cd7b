//! A blocking memcached client speaking the text protocol (`get`, `set`, `delete`).
//!
//! Keys are spread over several servers the way pylibmc/libmemcached do by default
//! (Jenkins one-at-a-time hash of the key, modulo the number of servers, in the order the
//! servers are listed), so rewho hosts and Python hosts configured with the same server list
//! agree on where every key lives.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use crate::pool::{Log, OpError, Pool, PoolConfig, Unavailable};

/// The port memcached listens on by default.
pub const DEFAULT_PORT: u16 = 11211;
/// The longest key memcached accepts.
pub const MAX_KEY_LEN: usize = 250;
/// The largest value this client reads back (memcached's default item limit is 1 MiB).
pub const MAX_VALUE_LEN: usize = 8 << 20;
const MAX_LINE: u64 = 2048;

/// Where one memcached server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerAddr {
    /// A TCP host (name or address) and port.
    Tcp {
        /// Host name or IP address (IPv6 without brackets).
        host: String,
        /// Port.
        port: u16,
    },
    /// A unix socket path.
    Unix(PathBuf),
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerAddr::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            ServerAddr::Tcp { host, port } => write!(f, "{host}:{port}"),
            ServerAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl ServerAddr {
    /// Parses one entry of `memcached_urls`: `host:port`, `host` (port 11211), `[v6]:port`,
    /// `memcache://host:port` (also `memcached://`), a unix socket path (`/run/mc.sock`,
    /// `unix:/run/mc.sock`, `memcache:///run/mc.sock`).
    pub fn parse(url: &str) -> Result<ServerAddr, String> {
        let url = url.trim();
        let rest = url
            .strip_prefix("memcache://")
            .or_else(|| url.strip_prefix("memcached://"))
            .unwrap_or(url);
        if let Some(path) = rest.strip_prefix("unix:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(format!("{url:?}: empty unix socket path"));
            }
            return Ok(ServerAddr::Unix(PathBuf::from(path)));
        }
        if rest.starts_with('/') {
            return Ok(ServerAddr::Unix(PathBuf::from(rest)));
        }
        if rest.contains("://") {
            return Err(format!(
                "{url:?}: unsupported scheme (use host:port, memcache://host:port or a socket path)"
            ));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{url:?}: missing `]`"))?;
            match after.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None if after.is_empty() => (host, None),
                None => return Err(format!("{url:?}: unexpected text after `]`")),
            }
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(format!("{url:?}: missing host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("{url:?}: bad port {p:?}"))?,
            None => DEFAULT_PORT,
        };
        Ok(ServerAddr::Tcp {
            host: host.to_owned(),
            port,
        })
    }

    fn connect(&self, timeout: Duration) -> io::Result<Stream> {
        match self {
            ServerAddr::Tcp { host, port } => {
                let mut last = None;
                for addr in (host.as_str(), *port).to_socket_addrs()? {
                    match TcpStream::connect_timeout(&addr, timeout) {
                        Ok(s) => {
                            s.set_read_timeout(Some(timeout))?;
                            s.set_write_timeout(Some(timeout))?;
                            s.set_nodelay(true)?;
                            return Ok(Stream::Tcp(s));
                        }
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, "host resolves to no address")
                }))
            }
            ServerAddr::Unix(path) => {
                let s = UnixStream::connect(path)?;
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                Ok(Stream::Unix(s))
            }
        }
    }
}

/// libmemcached's default key hash (Jenkins one-at-a-time), which pylibmc uses.
pub fn one_at_a_time(key: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &b in key {
        // libmemcached reads the key as `char`; keys here are ASCII, where that is the byte.
        h = h.wrapping_add(u32::from(b));
        h = h.wrapping_add(h << 10);
        h ^= h >> 6;
    }
    h = h.wrapping_add(h << 3);
    h ^= h >> 11;
    h.wrapping_add(h << 15)
}

/// The index of the server holding `key` among `servers` servers (libmemcached's "modula"
/// distribution, pylibmc's default).
pub fn server_index(key: &str, servers: usize) -> usize {
    if servers <= 1 {
        return 0;
    }
    (one_at_a_time(key.as_bytes()) as usize) % servers
}

/// `true` for a key memcached's text protocol accepts: 1–250 bytes, no spaces or controls.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b > b' ' && b != 0x7f)
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

/// One open connection to a memcached server.
pub struct Conn {
    io: BufReader<Stream>,
    line: Vec<u8>,
}

impl Conn {
    fn send(&mut self, request: &[u8]) -> Result<(), OpError> {
        self.io.get_mut().write_all(request)?;
        Ok(())
    }

    /// Reads one `\r\n`-terminated line (without the terminator) into `self.line`.
    fn read_line(&mut self) -> Result<(), OpError> {
        self.line.clear();
        let n = (&mut self.io)
            .take(MAX_LINE)
            .read_until(b'\n', &mut self.line)?;
        if n == 0 {
            return Err(OpError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by server",
            )));
        }
        if !self.line.ends_with(b"\r\n") {
            return Err(OpError::Protocol("reply line too long or truncated".into()));
        }
        self.line.truncate(self.line.len() - 2);
        Ok(())
    }

    fn unexpected(&self, what: &str) -> OpError {
        let shown: String = String::from_utf8_lossy(&self.line)
            .chars()
            .take(80)
            .collect();
        OpError::Protocol(format!("unexpected reply to {what}: {shown:?}"))
    }

    /// `get <key>`: the value, or `None` on a miss.
    pub fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, OpError> {
        self.send(format!("get {key}\r\n").as_bytes())?;
        self.read_line()?;
        if self.line == b"END" {
            return Ok(None);
        }
        let header = std::str::from_utf8(&self.line).map_err(|_| self.unexpected("get"))?;
        let mut parts = header.split(' ');
        let (Some("VALUE"), Some(k), Some(_flags), Some(len)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(self.unexpected("get"));
        };
        if k != key {
            return Err(self.unexpected("get"));
        }
        let len: usize = len.parse().map_err(|_| self.unexpected("get"))?;
        if len > MAX_VALUE_LEN {
            return Err(OpError::Protocol(format!(
                "value of {len} bytes is too large"
            )));
        }
        let mut value = vec![0; len + 2];
        self.io.read_exact(&mut value)?;
        if !value.ends_with(b"\r\n") {
            return Err(OpError::Protocol("value not followed by CRLF".into()));
        }
        value.truncate(len);
        self.read_line()?;
        if self.line != b"END" {
            return Err(self.unexpected("get"));
        }
        Ok(Some(value))
    }

    /// `set <key> 0 <ttl> <len>`: `true` when stored.
    pub fn set(&mut self, key: &str, value: &[u8], ttl: u32) -> Result<bool, OpError> {
        let mut req = format!("set {key} 0 {ttl} {}\r\n", value.len()).into_bytes();
        req.extend_from_slice(value);
        req.extend_from_slice(b"\r\n");
        self.send(&req)?;
        self.read_line()?;
        match self.line.as_slice() {
            b"STORED" => Ok(true),
            b"NOT_STORED" => Ok(false),
            _ => Err(self.unexpected("set")),
        }
    }

    /// `add <key> 0 <ttl> <len>`: stores only when the key is absent; `true` when stored.
    pub fn add(&mut self, key: &str, value: &[u8], ttl: u32) -> Result<bool, OpError> {
        let mut req = format!("add {key} 0 {ttl} {}\r\n", value.len()).into_bytes();
        req.extend_from_slice(value);
        req.extend_from_slice(b"\r\n");
        self.send(&req)?;
        self.read_line()?;
        match self.line.as_slice() {
            b"STORED" => Ok(true),
            b"NOT_STORED" => Ok(false),
            _ => Err(self.unexpected("add")),
        }
    }

    /// `incr <key> <by>`: the new value, or `None` when the key is absent.
    pub fn incr(&mut self, key: &str, by: u64) -> Result<Option<u64>, OpError> {
        self.send(format!("incr {key} {by}\r\n").as_bytes())?;
        self.read_line()?;
        if self.line == b"NOT_FOUND" {
            return Ok(None);
        }
        std::str::from_utf8(&self.line)
            .ok()
            .and_then(|n| n.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| self.unexpected("incr"))
    }

    /// `delete <key>`: `true` when a value was removed.
    pub fn delete(&mut self, key: &str) -> Result<bool, OpError> {
        self.send(format!("delete {key}\r\n").as_bytes())?;
        self.read_line()?;
        match self.line.as_slice() {
            b"DELETED" => Ok(true),
            b"NOT_FOUND" => Ok(false),
            _ => Err(self.unexpected("delete")),
        }
    }
}

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Bound on connecting and on each read and write.
    pub timeout: Duration,
    /// Pool settings (retry interval of a failed server, idle connections kept).
    pub pool: PoolConfig,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            timeout: Duration::from_millis(100),
            pool: PoolConfig::default(),
        }
    }
}

/// A memcached client over one or more servers.
///
/// Every method returns [`Unavailable`] rather than waiting when the key's server is down;
/// callers treat that as a miss. Safe to share between threads.
pub struct Client {
    addrs: Vec<ServerAddr>,
    servers: Vec<Pool<Conn>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("servers", &self.servers)
            .finish()
    }
}

impl Client {
    /// A client for `urls` (see [`ServerAddr::parse`]), in the given order, which decides
    /// where keys go: every host sharing the cache must list the same servers in the same
    /// order. Connects lazily.
    pub fn new<S: AsRef<str>>(
        urls: &[S],
        config: &ClientConfig,
        log: Log,
    ) -> Result<Client, String> {
        if urls.is_empty() {
            return Err("no memcached server given".into());
        }
        let addrs = urls
            .iter()
            .map(|u| ServerAddr::parse(u.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let servers = addrs
            .iter()
            .map(|addr| {
                let a = addr.clone();
                let timeout = config.timeout;
                Pool::new(
                    format!("memcached {addr}"),
                    config.pool.clone(),
                    log.clone(),
                    move || {
                        Ok(Conn {
                            io: BufReader::new(a.connect(timeout)?),
                            line: Vec::with_capacity(64),
                        })
                    },
                )
            })
            .collect();
        Ok(Client { addrs, servers })
    }

    /// The servers, in distribution order.
    pub fn addrs(&self) -> &[ServerAddr] {
        &self.addrs
    }

    /// The index (into [`addrs`](Self::addrs)) of the server holding `key`.
    pub fn server_for(&self, key: &str) -> usize {
        server_index(key, self.servers.len())
    }

    fn pool(&self, key: &str) -> Result<&Pool<Conn>, Unavailable> {
        if !valid_key(key) {
            return Err(Unavailable::Refused(format!(
                "invalid memcached key of {} bytes",
                key.len()
            )));
        }
        Ok(&self.servers[self.server_for(key)])
    }

    /// The value stored under `key`, `None` on a miss.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Unavailable> {
        self.pool(key)?.run(|c| c.get(key))
    }

    /// Stores `value` under `key` for `ttl` seconds (`0` = no expiry; at most 30 days, as
    /// memcached reads larger numbers as a date).
    pub fn set(&self, key: &str, value: &[u8], ttl: u32) -> Result<bool, Unavailable> {
        self.pool(key)?.run(|c| c.set(key, value, ttl))
    }

    /// Stores `value` under `key` for `ttl` seconds only if the key is absent (atomic on the
    /// server); `true` when stored.
    pub fn add(&self, key: &str, value: &[u8], ttl: u32) -> Result<bool, Unavailable> {
        self.pool(key)?.run(|c| c.add(key, value, ttl))
    }

    /// Adds `by` to the decimal number under `key` (atomic on the server); `None` when the
    /// key is absent. The key's expiry is unchanged.
    pub fn incr(&self, key: &str, by: u64) -> Result<Option<u64>, Unavailable> {
        self.pool(key)?.run(|c| c.incr(key, by))
    }

    /// Removes `key`; `true` when it existed.
    pub fn delete(&self, key: &str) -> Result<bool, Unavailable> {
        self.pool(key)?.run(|c| c.delete(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::no_log;
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    #[test]
    fn parses_server_urls() {
        let tcp = |h: &str, p| ServerAddr::Tcp {
            host: h.into(),
            port: p,
        };
        assert_eq!(
            ServerAddr::parse("127.0.0.1:11311"),
            Ok(tcp("127.0.0.1", 11311))
        );
        assert_eq!(ServerAddr::parse("localhost"), Ok(tcp("localhost", 11211)));
        assert_eq!(
            ServerAddr::parse("memcache://cache.example:1234"),
            Ok(tcp("cache.example", 1234))
        );
        assert_eq!(ServerAddr::parse("memcached://[::1]:5/"), Ok(tcp("::1", 5)));
        assert_eq!(ServerAddr::parse("[::1]"), Ok(tcp("::1", 11211)));
        assert_eq!(
            ServerAddr::parse("/run/mc.sock"),
            Ok(ServerAddr::Unix("/run/mc.sock".into()))
        );
        assert_eq!(
            ServerAddr::parse("unix:/run/mc.sock"),
            Ok(ServerAddr::Unix("/run/mc.sock".into()))
        );
        assert_eq!(
            ServerAddr::parse("memcache:///run/mc.sock"),
            Ok(ServerAddr::Unix("/run/mc.sock".into()))
        );
        for bad in [
            "",
            "host:0",
            "host:x",
            "redis://h:1",
            "[::1",
            "[::1]x",
            ":11211",
        ] {
            assert!(ServerAddr::parse(bad).is_err(), "{bad:?} parsed");
        }
        assert_eq!(ServerAddr::parse("[::1]:7").unwrap().to_string(), "[::1]:7");
    }

    /// Keys set through pylibmc 1.6.3 (libmemcached 1.0.18, default behaviours) on three
    /// servers, and the server each one landed on.
    #[test]
    fn distribution_matches_pylibmc() {
        let seen = [
            ("db13edc08b3f10f26046ee723593091c9b523b29", 0),
            ("54161b8171c3c963dc63fdf8b11faeda18d53823", 1),
            ("d3ab3ffd0dcb16918f68c29a58e9f9fe9f3ddef4", 1),
            ("5f709050fdeb46b1d3c636c34475b707e2622522", 1),
            ("3d0cf71f8df9f895490ab86d4f21a4a631420007", 2),
            ("5732ff8b0605f0d1307fb12a3dbb1e5dcccf4121", 0),
            ("f9118fb02b504f1afb65ac6df456f2e015be709b", 2),
            ("fe34875d254c2842f092bb812d181e69b6db8804", 0),
            ("4950e04667c9d414a6416c976c6cba0af1665095", 2),
            ("530ce27a6a111fd0ddd4e64c27df626e248aca03", 1),
            ("e18b4dde76c54fa10b408f7397e14a963933fb94", 1),
            ("14de4921773746422cac582175451ec4af7b486d", 2),
        ];
        for (key, server) in seen {
            assert_eq!(server_index(key, 3), server, "{key}");
        }
        assert_eq!(server_index("anything", 1), 0);
    }

    #[test]
    fn key_validity() {
        assert!(valid_key("abc:def"));
        assert!(!valid_key(""));
        assert!(!valid_key("a b"));
        assert!(!valid_key("a\nb"));
        assert!(!valid_key(&"k".repeat(251)));
    }

    /// A one-connection fake server answering each request line from a script.
    fn fake_server(replies: Vec<&'static [u8]>) -> (String, Arc<Mutex<Vec<u8>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(sock.try_clone().unwrap());
            for reply in replies {
                let mut line = Vec::new();
                if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line.starts_with(b"set ") {
                    let n: usize = String::from_utf8_lossy(&line)
                        .split_whitespace()
                        .nth(4)
                        .unwrap()
                        .parse()
                        .unwrap();
                    let mut data = vec![0; n + 2];
                    reader.read_exact(&mut data).unwrap();
                    line.extend_from_slice(&data);
                }
                s.lock().unwrap().extend_from_slice(&line);
                sock.write_all(reply).unwrap();
            }
            // Keep the socket open until the client is done.
            let mut rest = Vec::new();
            let _ = reader.read_to_end(&mut rest);
        });
        (addr, seen)
    }

    #[test]
    fn speaks_the_text_protocol() {
        let (addr, seen) = fake_server(vec![
            b"END\r\n",
            b"STORED\r\n",
            b"VALUE k 0 5\r\nhe\r\no\r\nEND\r\n",
            b"DELETED\r\n",
            b"NOT_FOUND\r\n",
        ]);
        let c = Client::new(&[addr], &ClientConfig::default(), no_log()).unwrap();
        assert_eq!(c.get("k"), Ok(None));
        assert_eq!(c.set("k", b"he\r\no", 60), Ok(true));
        assert_eq!(c.get("k"), Ok(Some(b"he\r\no".to_vec())));
        assert_eq!(c.delete("k"), Ok(true));
        assert_eq!(c.delete("k"), Ok(false));
        assert_eq!(
            String::from_utf8(seen.lock().unwrap().clone()).unwrap(),
            "get k\r\nset k 0 60 5\r\nhe\r\no\r\nget k\r\ndelete k\r\ndelete k\r\n"
        );
    }

    #[test]
    fn garbage_replies_are_errors_not_panics() {
        for reply in [
            &b"VALUE other 0 1\r\nx\r\nEND\r\n"[..],
            b"VALUE k 0 notanumber\r\n",
            b"VALUE k 0 99999999999\r\n",
            b"VALUE k 0 1\r\nxyz\r\n",
            b"SERVER_ERROR out of memory\r\n",
            b"\xff\xfe\r\n",
        ] {
            let (addr, _) = fake_server(vec![reply]);
            let c = Client::new(&[addr], &ClientConfig::default(), no_log()).unwrap();
            assert!(c.get("k").is_err(), "{reply:?}");
        }
    }

    #[test]
    fn a_silent_server_costs_one_timeout_then_is_skipped() {
        // Accepts connections but never answers (a hung or stopped memcached).
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in listener.incoming().flatten() {
                held.push(s);
            }
        });
        let config = ClientConfig {
            timeout: Duration::from_millis(50),
            pool: PoolConfig {
                retry: Duration::from_secs(5),
                max_idle: 4,
            },
        };
        let c = Client::new(&[addr], &config, no_log()).unwrap();
        let t = Instant::now();
        assert!(matches!(c.get("k"), Err(Unavailable::Failed(_))));
        let first = t.elapsed();
        assert!(first < Duration::from_millis(500), "{first:?}");
        let t = Instant::now();
        for _ in 0..100 {
            assert_eq!(c.get("k"), Err(Unavailable::Down));
        }
        assert!(t.elapsed() < Duration::from_millis(50), "{:?}", t.elapsed());
    }

    #[test]
    fn refused_connection_is_fast() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = Client::new(
            &[format!("127.0.0.1:{port}")],
            &ClientConfig::default(),
            no_log(),
        )
        .unwrap();
        let t = Instant::now();
        assert!(c.set("k", b"v", 1).is_err());
        assert!(t.elapsed() < Duration::from_millis(100));
    }
}

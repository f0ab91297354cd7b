//! A client that is not on loopback: a network namespace joined to the host by a veth pair on
//! a private /30 (`10.213.N.1` on the host side, `10.213.N.2` inside), made and removed by the
//! test itself. Servers under test listen on [`NetNs::host_ip`]; clients run inside the
//! namespace ([`NetNs::exec`], [`NetNs::command`]) or open their sockets there
//! ([`NetNs::connect`]), so the server sees a peer that is neither loopback nor trusted.
//!
//! `N` is picked free at run time: each slot is claimed with an exclusive `flock` on a file
//! under the temp dir, held for the life of the [`NetNs`], so tests running in parallel (in
//! one process or several) never share a subnet. Claiming a slot first removes whatever a
//! killed earlier run left under that slot's names. Needs root (`ip netns add`).
#![allow(dead_code)]

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A network namespace with a veth link to the host; both are removed on drop.
pub struct NetNs {
    name: String,
    host_link: String,
    slot: u8,
    tag: String,
    /// Holds the slot's `flock` until drop.
    _lock: File,
}

impl std::fmt::Debug for NetNs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetNs")
            .field("tag", &self.tag)
            .field("name", &self.name)
            .field("host_ip", &self.host_ip())
            .field("ns_ip", &self.ns_ip())
            .finish()
    }
}

/// Runs `ip ARGS`, failing the test with its output when it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip` (package iproute2): {e}"));
    assert!(
        out.status.success(),
        "`ip {}` failed (tests that need a network namespace run as root): {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `ip ARGS`, ignoring failure (clean-up of what may not exist).
fn ip_quiet(args: &[&str]) {
    let _ = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Claims the first free slot: an exclusive, non-blocking `flock` on its lock file.
fn claim_slot() -> (u8, File) {
    let dir = std::env::temp_dir().join("rewho-netns");
    std::fs::create_dir_all(&dir).expect("create the netns lock dir");
    for slot in 0..=u8::MAX {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{slot}.lock")))
            .expect("open a netns lock file");
        // SAFETY: flock(2) on a descriptor this function owns.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return (slot, file);
        }
    }
    panic!("all 256 test network namespace slots are in use");
}

impl NetNs {
    /// Makes a namespace and its veth pair; `tag` names the test in messages only.
    pub fn create(tag: &str) -> NetNs {
        let (slot, lock) = claim_slot();
        let name = format!("rewho-t{slot}");
        let host_link = format!("rwh{slot}");
        let ns_link = format!("rwn{slot}");
        // Left over from a run that was killed while holding this slot.
        ip_quiet(&["netns", "del", &name]);
        ip_quiet(&["link", "del", &host_link]);
        let ns = NetNs {
            name,
            host_link,
            slot,
            tag: tag.to_owned(),
            _lock: lock,
        };
        let (host_cidr, ns_cidr) = (format!("{}/30", ns.host_ip()), format!("{}/30", ns.ns_ip()));
        ip(&["netns", "add", &ns.name]);
        ip(&[
            "link",
            "add",
            &ns.host_link,
            "type",
            "veth",
            "peer",
            "name",
            &ns_link,
        ]);
        ip(&["link", "set", &ns_link, "netns", &ns.name]);
        ip(&["addr", "add", &host_cidr, "dev", &ns.host_link]);
        ip(&["link", "set", &ns.host_link, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["-n", ns.name.as_str()];
            all.extend_from_slice(args);
            ip(&all);
        };
        inside(&["addr", "add", &ns_cidr, "dev", &ns_link]);
        inside(&["link", "set", &ns_link, "up"]);
        inside(&["link", "set", "lo", "up"]);
        ns.wait_reachable();
        ns
    }

    /// The host side's address (`10.213.N.1`): where servers under test listen.
    pub fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, self.slot, 1)
    }

    /// The namespace's address (`10.213.N.2`): the client's address as servers see it.
    pub fn ns_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, self.slot, 2)
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip netns exec NAME ARGS…` with stdin closed, to be run or spawned by the caller.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name])
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `ARGS…` inside the namespace and returns its output (whatever its status).
    pub fn exec(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .unwrap_or_else(|e| panic!("{}: ip netns exec {args:?}: {e}", self.tag))
    }

    /// `curl -sS -i ARGS…` run inside the namespace (never following redirects), parsed.
    /// Fails the test when curl itself fails (no connection, a timeout of 30 s).
    pub fn curl(&self, args: &[&str]) -> CurlReply {
        let mut all = vec!["curl", "-sS", "-i", "--max-time", "30"];
        all.extend_from_slice(args);
        let out = self.exec(&all);
        assert!(
            out.status.success(),
            "{}: curl {args:?} failed: {}",
            self.tag,
            String::from_utf8_lossy(&out.stderr)
        );
        CurlReply::parse(&String::from_utf8_lossy(&out.stdout))
    }

    /// A TCP connection to `addr` opened from inside the namespace (its socket lives there;
    /// the calling process stays where it is: a short-lived thread joins the namespace).
    pub fn connect(&self, addr: SocketAddr) -> std::io::Result<TcpStream> {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let ns = File::open(&path)?;
            // SAFETY: setns(2) moves only this thread, which exits right after connecting.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        })
        .join()
        .expect("the netns connect thread panicked")
    }

    /// Waits (bounded) until a connection from the namespace reaches the host side: a
    /// fresh veth may take a moment to carry traffic.
    fn wait_reachable(&self) {
        let probe = std::net::TcpListener::bind((self.host_ip(), 0))
            .unwrap_or_else(|e| panic!("{}: bind {}: {e}", self.tag, self.host_ip()));
        let addr = probe.local_addr().expect("probe address");
        let mut last = None;
        for _ in 0..50 {
            match self.connect(addr) {
                Ok(_) => return,
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{}: {} cannot reach {addr}: {last:?}", self.tag, self.name);
    }
}

/// A response as [`NetNs::curl`] received it.
#[derive(Debug, Clone)]
pub struct CurlReply {
    /// The status code.
    pub status: u16,
    /// Header lines in order, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl CurlReply {
    fn parse(text: &str) -> CurlReply {
        // `-i` prints every response head (a `100 Continue` first, say): keep the last one.
        let mut rest = text;
        loop {
            let (head, body) = rest
                .split_once("\r\n\r\n")
                .unwrap_or_else(|| panic!("no response head in {text:?}"));
            let mut lines = head.lines();
            let status: u16 = lines
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("no status line in {text:?}"));
            if status == 100 && body.starts_with("HTTP/") {
                rest = body;
                continue;
            }
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            return CurlReply {
                status,
                headers,
                body: body.to_owned(),
            };
        }
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Deleting the namespace destroys its end of the pair, and with it the host's end;
        // the second command covers a pair that never reached the namespace.
        ip_quiet(&["netns", "del", &self.name]);
        ip_quiet(&["link", "del", &self.host_link]);
    }
}

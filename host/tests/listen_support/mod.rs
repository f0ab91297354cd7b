//! `rewho serve` on any address (a network namespace's host side, say) with an open-file
//! limit, its log in a file; raw HTTP/1.1 exchanges with a deadline. For the tests of issue
//! 19 that need a client that is not on loopback.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `rewho serve` started through `sh -c 'ulimit -n N; exec rewho serve …'`, its stderr in a
/// file.
/// A `rewho serve` child, killed on drop.
pub struct Listening {
    pub child: Child,
    pub addr: SocketAddr,
    log: tempfile::NamedTempFile,
}

impl Listening {
    /// Starts `rewho serve --config CONFIG --listen IP:PORT ARGS…` under `ulimit -n NOFILE`.
    pub fn start(ip: std::net::Ipv4Addr, config: &Path, nofile: u32, args: &[&str]) -> Listening {
        let log = tempfile::NamedTempFile::new().unwrap();
        let addr = SocketAddr::from((ip, super::serve_support::free_port()));
        let mut script = format!(
            "ulimit -n {nofile} && exec '{}' serve --config '{}' --listen {addr}",
            env!("CARGO_BIN_EXE_rewho"),
            config.display()
        );
        for a in args {
            script.push_str(&format!(" '{a}'"));
        }
        let child = Command::new("sh")
            .args(["-c", &script])
            .env("REWHO_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let server = Listening { child, addr, log };
        let end = Instant::now() + Duration::from_secs(30);
        while !server.log().contains("rewho: listening on") {
            assert!(
                Instant::now() < end,
                "rewho did not start:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
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

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap()
    }

    /// The soft open-files limit the running server has, from `/proc`.
    pub fn nofile(&self) -> u64 {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.child.id())).unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap();
        line.split_whitespace().nth(3).unwrap().parse().unwrap()
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one HTTP/1.1 request on `stream` and reads the whole answer (`Connection: close`).
pub fn exchange(mut stream: TcpStream, head: &str, within: Duration) -> String {
    stream.set_read_timeout(Some(within)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut out = Vec::new();
    match stream.read_to_end(&mut out) {
        Ok(_) => {}
        Err(e) => panic!(
            "no complete answer within {within:?}: {e}; got {:?}",
            String::from_utf8_lossy(&out)
        ),
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads from a connection that should be closed by the server: `true` on EOF or reset.
pub fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 64];
    match stream.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
        ),
    }
}

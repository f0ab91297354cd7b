//! A second floor for `bench/compare.sh`'s question "would a hand-written HTTP/1.1 lane pay?":
//! the same threads and runtimes as `http_floor`, but each connection is a bare keep-alive
//! loop over `httparse` (the parser hyper itself uses) that answers every complete head with
//! a fixed 200, with no body handling, no limits and no error replies. It is not a server
//! anyone should run: it bounds what replacing hyper on the forward-auth endpoint could save,
//! by setting hyper's per-request cost against a loop that does nothing else.
//!
//! usage: parser_floor ADDR (e.g. 127.0.0.1:8080); prints `listening` once bound.
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves one connection: parse every complete head in the buffer, answer each, read again.
async fn serve(mut s: tokio::net::TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 8192];
    let mut have = 0usize;
    let mut out = Vec::with_capacity(512);
    loop {
        let n = s.read(&mut buf[have..]).await?;
        if n == 0 {
            return Ok(());
        }
        have += n;
        let mut start = 0;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf[start..have]) {
                Ok(httparse::Status::Complete(len)) => {
                    start += len;
                    out.extend_from_slice(b"HTTP/1.1 200 OK\r\nx-remote-user: alice\r\ncontent-length: 0\r\ndate: Wed, 02 Dec 2026 19:00:00 GMT\r\n\r\n");
                }
                Ok(httparse::Status::Partial) => break,
                Err(_) => return Ok(()),
            }
        }
        buf.copy_within(start..have, 0);
        have -= start;
        if !out.is_empty() {
            s.write_all(&out).await?;
            out.clear();
        }
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut queues = Vec::new();
    for _ in 0..threads {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<std::net::TcpStream>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::spawn(move || {
            rt.block_on(async move {
                while let Some(stream) = rx.recv().await {
                    let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                        continue;
                    };
                    tokio::spawn(async move {
                        let _ = serve(stream).await;
                    });
                }
            })
        });
        queues.push(tx);
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?
        .block_on(async {
            let listener = tokio::net::TcpListener::bind(&addr).await?;
            println!("listening on {}", listener.local_addr()?);
            for next in (0..threads).cycle() {
                let (stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                let _ = queues[next].send(stream.into_std()?);
            }
            Ok(())
        })
}

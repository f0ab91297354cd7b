//! Connection threads: `rewho serve` accepts on one task and hands every connection to one of
//! a few threads, each running a single-threaded tokio runtime that serves its connections
//! start to end.
//!
//! Why not tokio's work-stealing runtime: a forward-auth request is a few microseconds of
//! work, and on that runtime every wake-up may also wake a parked worker to steal it (a futex
//! call and a context switch per request, measured in docs/PERFORMANCE.md). A connection that
//! stays on one thread pays none of that, and keep-alive clients (every proxy) make the one
//! hand-off per connection negligible. Work that may block still goes to the thread's own
//! blocking pool (`spawn_blocking`), so a slow plugin never holds up the thread's other
//! connections.

use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::{mpsc, oneshot};

use super::conns::Slot;

/// What a connection thread does with one accepted connection: start serving it, watched by
/// the thread's `GracefulShutdown` so that a shutdown lets its request in flight finish.
pub(crate) trait ServeConnection: Clone + Send + 'static {
    /// Serves `stream` from `peer` on the current (connection thread's) runtime; `slot` is
    /// its place under the connection limits, held until the connection ends.
    fn serve(
        &self,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        slot: Slot,
        graceful: &GracefulShutdown,
    );
}

/// A connection on its way to a thread.
type Handed = (std::net::TcpStream, SocketAddr, Slot);

/// One connection thread, seen from the accept loop.
struct Worker {
    connections: mpsc::UnboundedSender<Handed>,
    /// Dropped (never sent) when the thread has finished, gracefully or not.
    finished: oneshot::Receiver<()>,
    /// Dropping it tells the thread to stop at once, closing whatever is still open.
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

/// The connection threads of one server. Connections go to them in turn.
pub(crate) struct ConnectionThreads {
    workers: Vec<Worker>,
    next: usize,
}

impl ConnectionThreads {
    /// Starts `count` threads (at least one) serving connections with `serve`.
    pub(crate) fn start(count: usize, serve: impl ServeConnection) -> std::io::Result<Self> {
        let mut workers = Vec::with_capacity(count.max(1));
        for i in 0..count.max(1) {
            let (connections, incoming) = mpsc::unbounded_channel();
            let (finished_tx, finished) = oneshot::channel();
            let (stop, stopped) = oneshot::channel();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .thread_name(format!("rewho-conn-{i}-blocking"))
                .build()?;
            let serve = serve.clone();
            let thread = std::thread::Builder::new()
                .name(format!("rewho-conn-{i}"))
                .spawn(move || {
                    runtime.block_on(serve_handed_connections(incoming, stopped, serve));
                    // A plugin call still on this thread's blocking pool must not hold the
                    // thread (dropping the runtime would wait for it); its result is unwanted.
                    runtime.shutdown_background();
                    drop(finished_tx);
                })?;
            workers.push(Worker {
                connections,
                finished,
                stop,
                thread,
            });
        }
        Ok(ConnectionThreads { workers, next: 0 })
    }

    /// Hands `stream` to the next thread. A thread that has died (it cannot, short of a bug)
    /// is skipped; with none left the connection is closed and the error says so.
    pub(crate) fn hand(
        &mut self,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        slot: Slot,
    ) -> std::io::Result<()> {
        let mut item = (stream.into_std()?, peer, slot);
        for _ in 0..self.workers.len() {
            let worker = &self.workers[self.next];
            self.next = (self.next + 1) % self.workers.len();
            match worker.connections.send(item) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(back)) => item = back,
            }
        }
        Err(std::io::Error::other("every connection thread has stopped"))
    }

    /// Stops handing out connections and waits until every thread has finished the requests
    /// in flight. Dropping the returned future instead (the grace period is over) stops the
    /// threads at once.
    pub(crate) fn finish(self) -> impl Future<Output = ()> {
        let mut stops = Vec::with_capacity(self.workers.len());
        let mut finished = Vec::with_capacity(self.workers.len());
        for w in self.workers {
            drop(w.connections);
            stops.push(w.stop);
            finished.push((w.finished, w.thread));
        }
        async move {
            for (f, thread) in finished {
                let _ = f.await;
                // It has dropped its sender as its last act; joining is a formality that
                // surfaces a panic in the log rather than losing it.
                if thread.join().is_err() {
                    tracing::error!(target: "rewho::serve", "a connection thread panicked");
                }
            }
            drop(stops);
        }
    }
}

/// A connection thread's loop: serve what is handed over until the accept loop lets go, then
/// let the open connections finish; stop at once when told to.
async fn serve_handed_connections(
    mut incoming: mpsc::UnboundedReceiver<Handed>,
    mut stop: oneshot::Receiver<()>,
    serve: impl ServeConnection,
) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            _ = &mut stop => return,
            next = incoming.recv() => match next {
                Some((stream, peer, slot)) => match tokio::net::TcpStream::from_std(stream) {
                    Ok(stream) => serve.serve(stream, peer, slot, &graceful),
                    Err(e) => tracing::warn!(target: "rewho::serve", "cannot take over a connection: {e}"),
                },
                None => break,
            },
        }
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        _ = &mut stop => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Writes the name of the thread that served the connection, then closes it.
    #[derive(Clone)]
    struct NameThread(Arc<AtomicUsize>);

    impl ServeConnection for NameThread {
        fn serve(
            &self,
            mut stream: tokio::net::TcpStream,
            _: SocketAddr,
            _: Slot,
            _: &GracefulShutdown,
        ) {
            self.0.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let name = std::thread::current().name().unwrap_or("?").to_owned();
                let _ = stream.write_all(name.as_bytes()).await;
            });
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_go_to_every_thread_in_turn_and_finish_waits_for_them() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let mut threads = ConnectionThreads::start(3, NameThread(served.clone())).unwrap();
        let registry = super::super::conns::Registry::new(Default::default(), Arc::default());
        let mut names = Vec::new();
        for _ in 0..6 {
            let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (stream, peer) = listener.accept().await.unwrap();
            threads
                .hand(stream, peer, registry.admit().unwrap())
                .unwrap();
            let mut name = String::new();
            client.read_to_string(&mut name).await.unwrap();
            names.push(name);
        }
        assert_eq!(
            names,
            [0, 1, 2, 0, 1, 2].map(|i| format!("rewho-conn-{i}")),
            "round robin over the threads"
        );
        threads.finish().await;
        assert_eq!(served.load(Ordering::SeqCst), 6);
    }
}

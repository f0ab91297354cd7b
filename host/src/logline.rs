//! The `rewho` binary's log lines when stderr is not a terminal: the layout of
//! tracing-subscriber's default (`Full`) format, written without its styling machinery.
//!
//! Why: `rewho serve` logs one access line per request at the default level, and the default
//! formatter spent about 11 500 instructions on it (styling every field name, even with
//! colours off, and formatting the timestamp through `core::fmt` piece by piece), 40% more
//! than the whole forward-auth request without it. [`LineFormat`] writes the same line
//! (`2026-12-02T05:46:03.585638Z  INFO request{id=65dd62fb-1}: rewho::access: request
//! method=GET …`) with plain string writes and a timestamp whose date and time of day are
//! formatted once per second per thread.
//!
//! It is also stricter: control characters are escaped in every field, not only in the
//! message, so no value (a request path, a user name) can start a fake log line.
//!
//! [`BatchedWriter`] takes the `write` system call off the request: lines are handed to a
//! thread of their own, which writes whatever has gathered in one call.

use std::cell::RefCell;
use std::fmt::{self, Write};
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event format: timestamp, level, spans with their fields, target, fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct LineFormat;

/// The field format of [`LineFormat`], for events and spans alike: `message` as it is, then
/// `name=value` with values in their `Debug` form (as tracing-subscriber writes them).
#[derive(Debug, Clone, Copy, Default)]
pub struct LineFields;

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Events forwarded from the `log` crate carry their real level and target as fields.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        write_timestamp(&mut w, SystemTime::now())?;
        w.write_str(level_text(*meta.level()))?;
        if let Some(scope) = ctx.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                seen = true;
                w.write_str(span.metadata().name())?;
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>() {
                    if !fields.is_empty() {
                        w.write_char('{')?;
                        w.write_str(fields)?;
                        w.write_char('}')?;
                    }
                }
                w.write_char(':')?;
            }
            if seen {
                w.write_char(' ')?;
            }
        }
        w.write_str(meta.target())?;
        w.write_str(": ")?;
        ctx.format_fields(w.by_ref(), event)?;
        w.write_char('\n')
    }
}

impl<'w> FormatFields<'w> for LineFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = LineVisitor {
            w: writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

/// The level as tracing-subscriber pads it, with the space after it.
fn level_text(level: Level) -> &'static str {
    match level {
        Level::TRACE => "TRACE ",
        Level::DEBUG => "DEBUG ",
        Level::INFO => " INFO ",
        Level::WARN => " WARN ",
        Level::ERROR => "ERROR ",
    }
}

struct LineVisitor<'w> {
    w: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl LineVisitor<'_> {
    /// Starts a field: the space before it, then `name=` unless it is the message. `None`
    /// for fields that are not written (the `log.*` metadata of forwarded `log` records).
    fn start(&mut self, field: &Field) -> Option<bool> {
        let name = field.name();
        if self.result.is_err() || name.starts_with("log.") {
            return None;
        }
        if !std::mem::take(&mut self.first) {
            self.result = self.w.write_char(' ');
        }
        if name == "message" {
            return Some(true);
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.result = self
            .result
            .and_then(|()| self.w.write_str(name))
            .and_then(|()| self.w.write_char('='));
        Some(false)
    }

    /// Writes `value`'s `Debug` form with its control characters escaped.
    fn escaped(&mut self, value: &dyn fmt::Debug) {
        if self.result.is_ok() {
            self.result = write!(Escaping(&mut self.w), "{value:?}");
        }
    }

    /// Writes `value` with its control characters escaped.
    fn escaped_text(&mut self, value: &str) {
        if self.result.is_ok() {
            self.result = Escaping(&mut self.w).write_str(value);
        }
    }
}

/// Whether `Debug` writes `s` as it is between its quotes: printable ASCII without `"` or
/// `\` (anything else takes `Debug`'s own escaping).
fn debug_is_verbatim(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

impl Visit for LineVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        match self.start(field) {
            Some(true) => self.escaped_text(value),
            // What `Debug` writes, without its per-character escaping for plain text.
            Some(false) if debug_is_verbatim(value) => {
                self.result = self.result.and_then(|()| {
                    self.w.write_char('"')?;
                    self.w.write_str(value)?;
                    self.w.write_char('"')
                });
            }
            Some(false) => self.escaped(&value),
            None => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.start(field).is_some() && self.result.is_ok() {
            self.result = write!(self.w, "{value}");
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.start(field).is_some() && self.result.is_ok() {
            self.result = write!(self.w, "{value}");
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.start(field).is_some() && self.result.is_ok() {
            self.result = self.w.write_str(if value { "true" } else { "false" });
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.start(field).is_none() {
            return;
        }
        let mut text = value.to_string();
        if let Some(mut source) = value.source() {
            let name = field.name().strip_prefix("r#").unwrap_or(field.name());
            let _ = write!(text, " {name}.sources=[{source}");
            while let Some(next) = source.source() {
                let _ = write!(text, ", {next}");
                source = next;
            }
            text.push(']');
        }
        self.escaped_text(&text);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.start(field).is_some() {
            self.escaped(value);
        }
    }
}

/// Writes through to `W`, escaping control characters (C0, DEL and C1) so a value cannot end
/// the line or drive a terminal: `\n`, `\r`, `\t` as such, the rest as `\x1b` / `\u{85}`.
struct Escaping<W>(W);

impl<W: Write> Write for Escaping<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Control characters are the bytes below 0x20, 0x7f, and C1 (0xc2 0x80..=0x9f).
        let b = s.as_bytes();
        let control = |i: usize| {
            let c = b[i];
            c < 0x20 || c == 0x7f || (c == 0xc2 && b.get(i + 1).is_some_and(|n| *n < 0xa0))
        };
        if !(0..b.len()).any(control) {
            return self.0.write_str(s);
        }
        for c in s.chars() {
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c if u32::from(c) < 0x80 && c.is_control() => {
                    write!(self.0, "\\x{:02x}", u32::from(c))?
                }
                c if c.is_control() => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// `YYYY-MM-DDTHH:MM:SS.uuuuuuZ ` (UTC, microseconds), as tracing-subscriber's `SystemTime`
/// timer writes it. The part up to the seconds is kept per thread and redone once a second.
fn write_timestamp(w: &mut impl Write, now: SystemTime) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let Ok(since) = now.duration_since(UNIX_EPOCH) else {
        return w.write_str("<unknown time> ");
    };
    let secs = since.as_secs();
    SECOND.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != secs {
            cached.1.clear();
            push_date_time(&mut cached.1, secs);
            cached.0 = secs;
        }
        w.write_str(&cached.1)
    })?;
    let mut frac = *b".000000Z ";
    let mut micros = since.subsec_micros();
    for d in frac[1..7].iter_mut().rev() {
        *d = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    w.write_str(std::str::from_utf8(&frac).map_err(|_| fmt::Error)?)
}

/// Appends `YYYY-MM-DDTHH:MM:SS` for `secs` after the Unix epoch (proleptic Gregorian, UTC).
fn push_date_time(out: &mut String, secs: u64) {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil, on days since 0000-03-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3_600,
        rem / 60 % 60,
        rem % 60
    );
}

/// Log lines written by a thread of their own, many per `write` call: `rewho serve` writes an
/// access line per request, and unbuffered stderr made that one more system call on the
/// request's thread each time. Under wrk, 43 000 access lines took 2 983 `write` calls.
///
/// Nothing is dropped: a writer that falls behind (a full pipe) makes the logging threads
/// wait once [`BatchedWriter::LIMIT`] bytes are pending, as an unbuffered `stderr` would. A
/// line waits at most [`BatchedWriter::GATHER`] plus the write before it. Dropping the
/// [`Flush`] that [`start`](Self::start) returns writes what is pending and stops the thread;
/// lines logged after that are written directly.
#[derive(Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
}

/// Writes what is pending and stops the writing thread, when dropped (see [`BatchedWriter`]).
#[must_use = "dropping it at once stops the batching"]
pub struct Flush {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<Pending>,
    /// The writing thread waits here for the first line after an empty spell.
    ready: Condvar,
    /// Logging threads wait here while [`BatchedWriter::LIMIT`] bytes are pending.
    drained: Condvar,
    out: Mutex<Box<dyn io::Write + Send>>,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// The writing thread is waiting on `ready`.
    idle: bool,
    closing: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write_out(&self, bytes: &[u8]) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // A log line that cannot be written has nowhere else to go.
        let _ = out.write_all(bytes).and_then(|()| out.flush());
    }
}

impl BatchedWriter {
    /// Pending bytes at which logging threads wait for the writer.
    pub const LIMIT: usize = 1 << 20;
    /// How long the writer lets lines gather after the first one, so that a busy server makes
    /// one `write` per millisecond rather than one per line.
    pub const GATHER: Duration = Duration::from_millis(1);

    /// Starts the writing thread, writing to `out` (the binary passes stderr).
    pub fn start(out: impl io::Write + Send + 'static) -> io::Result<(BatchedWriter, Flush)> {
        let shared = Arc::new(Shared {
            state: Mutex::new(Pending::default()),
            ready: Condvar::new(),
            drained: Condvar::new(),
            out: Mutex::new(Box::new(out)),
        });
        let on_thread = shared.clone();
        let thread = std::thread::Builder::new()
            .name("rewho-log".into())
            .spawn(move || write_batches(&on_thread))?;
        Ok((
            BatchedWriter {
                shared: shared.clone(),
            },
            Flush {
                shared,
                thread: Some(thread),
            },
        ))
    }

    fn append(&self, line: &[u8]) {
        let mut pending = self.shared.lock();
        while pending.bytes.len() >= Self::LIMIT && !pending.closing {
            pending = self
                .shared
                .drained
                .wait(pending)
                .unwrap_or_else(|e| e.into_inner());
        }
        if pending.closing {
            drop(pending);
            self.shared.write_out(line);
            return;
        }
        let wake = pending.bytes.is_empty() && pending.idle;
        pending.bytes.extend_from_slice(line);
        drop(pending);
        if wake {
            self.shared.ready.notify_one();
        }
    }
}

fn write_batches(shared: &Shared) {
    let mut batch = Vec::new();
    loop {
        let closing = {
            let mut pending = shared.lock();
            while pending.bytes.is_empty() && !pending.closing {
                pending.idle = true;
                pending = shared
                    .ready
                    .wait(pending)
                    .unwrap_or_else(|e| e.into_inner());
                pending.idle = false;
            }
            if pending.bytes.is_empty() {
                return;
            }
            pending.closing
        };
        if !closing {
            std::thread::sleep(BatchedWriter::GATHER);
        }
        std::mem::swap(&mut shared.lock().bytes, &mut batch);
        shared.drained.notify_all();
        shared.write_out(&batch);
        batch.clear();
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.ready.notify_one();
        self.shared.drained.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One log line on its way to the writing thread.
pub struct Line<'a>(&'a BatchedWriter);

impl io::Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.append(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedWriter {
    type Writer = Line<'a>;
    fn make_writer(&'a self) -> Line<'a> {
        Line(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer failure")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner cause")]
    struct Inner;

    /// Logs the same events the way `rewho serve` does.
    fn emit() {
        let span = tracing::info_span!("request", id = %"65dd62fb-1");
        span.in_scope(|| {
            tracing::info!(
                target: "rewho::access",
                method = %"GET",
                path = %"/_rewho/auth",
                status = 200u16,
                outcome = "authenticated",
                user = "alice",
                micros = 119u64,
                "request"
            );
            let inner = tracing::warn_span!("plugin", name = "auth_tkt", r#type = "identifier");
            inner.in_scope(|| {
                tracing::warn!(
                    error = &Outer(Inner) as &(dyn std::error::Error + 'static),
                    ok = false,
                    delta = -3i64,
                    "plugin {} failed",
                    "auth_tkt"
                );
            });
        });
        tracing::error!(target: "rewho::timeout", plugin = "memcached", detail = ?("a", 1), "no span here");
        tracing::info!(
            empty = "",
            quoted = "say \"hi\" \\ café",
            "quote \" and unicode é stay"
        );
    }

    fn lines_with(lean: bool) -> Vec<String> {
        let out = Captured::default();
        let builder = tracing_subscriber::fmt()
            .with_writer(out.clone())
            .with_ansi(false)
            .with_max_level(Level::TRACE);
        let dispatch = if lean {
            tracing::Dispatch::new(
                builder
                    .event_format(LineFormat)
                    .fmt_fields(LineFields)
                    .finish(),
            )
        } else {
            tracing::Dispatch::new(builder.finish())
        };
        tracing::dispatcher::with_default(&dispatch, emit);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn lines_read_as_tracing_subscriber_writes_them() {
        let (lean, full) = (lines_with(true), lines_with(false));
        assert_eq!(lean.len(), 4, "{lean:#?}");
        for (l, f) in lean.iter().zip(&full) {
            // The timestamps differ by the time between the two runs; the rest is the same.
            let (lt, lrest) = l.split_at(27);
            let (ft, frest) = f.split_at(27);
            assert_eq!(lrest, frest);
            assert_eq!(lt.len(), ft.len());
            assert!(lt.ends_with('Z') && lt.as_bytes()[10] == b'T', "{lt}");
        }
        assert!(lean[0].ends_with(
            "  INFO request{id=65dd62fb-1}: rewho::access: request method=GET \
             path=/_rewho/auth status=200 outcome=\"authenticated\" user=\"alice\" micros=119"
        ));
        assert!(lean[1].contains("outer failure error.sources=[inner cause] ok=false delta=-3"));
    }

    #[test]
    fn control_characters_are_escaped_in_every_field() {
        let out = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(out.clone())
            .event_format(LineFormat)
            .fmt_fields(LineFields)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                path = %"/a\n2026-01-01T00:00:00.000000Z  INFO forged",
                user = %"\x1b[31mred\u{85}",
                "line\r\nbreak\t"
            );
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(
            "line\\r\\nbreak\\t path=/a\\n2026-01-01T00:00:00.000000Z  INFO forged \
             user=\\x1b[31mred\\u{85}"
        ));
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        let at = |secs: u64, micros: u64| {
            let mut s = String::new();
            let t = UNIX_EPOCH + std::time::Duration::from_micros(secs * 1_000_000 + micros);
            write_timestamp(&mut s, t).unwrap();
            s
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z ");
        assert_eq!(at(951_782_400, 7), "2000-02-29T00:00:00.000007Z ");
        assert_eq!(at(1_796_182_763, 585_638), "2026-12-02T03:39:23.585638Z ");
        assert_eq!(at(4_107_542_399, 999_999), "2100-02-28T23:59:59.999999Z ");
        assert_eq!(at(253_402_300_799, 0), "9999-12-31T23:59:59.000000Z ");
        // The cached second is redone when the second changes, on the same thread.
        assert_eq!(at(1, 0), "1970-01-01T00:00:01.000000Z ");
    }

    #[test]
    fn batched_lines_all_arrive_whole_and_in_order() {
        let sink = Captured::default();
        let (writer, flush) = BatchedWriter::start(sink.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        let line = format!("thread {t} line {i} {}\n", "x".repeat(i % 300));
                        io::Write::write_all(&mut writer.make_writer(), line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(flush);
        // Written after the flush: straight through.
        io::Write::write_all(&mut writer.make_writer(), b"late\n").unwrap();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let mut next = [0usize; 4];
        let mut lines = text.lines();
        for _ in 0..20_000 {
            let line = lines.next().expect("every line arrives");
            let mut words = line.split(' ');
            assert_eq!(words.next(), Some("thread"), "{line}");
            let t: usize = words.next().unwrap().parse().unwrap();
            assert_eq!(words.next(), Some("line"));
            let i: usize = words.next().unwrap().parse().unwrap();
            assert_eq!(i, next[t], "thread {t}'s lines keep their order");
            assert_eq!(words.next().map(str::len), Some(i % 300), "{line}");
            next[t] += 1;
        }
        assert_eq!(lines.next(), Some("late"));
        assert_eq!(lines.next(), None);
    }
}

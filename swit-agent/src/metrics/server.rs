//! `GET /metrics` and `GET /healthz` on a tiny blocking HTTP/1 server.
//!
//! One thread, one connection at a time, `Connection: close`: a scraper
//! asks every few seconds, so hyper's server (and its feature set) would buy
//! nothing. Every request is bounded: its head by [`MAX_HEAD`] bytes, each
//! read and write by [`IO_TIMEOUT`].
use std::{
    io::{self, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    os::fd::AsRawFd,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use super::{board::Board, family::families, prometheus};

/// Largest request head read; a GET needs a few hundred bytes.
pub const MAX_HEAD: usize = 8 * 1024;
/// Bound on each read and write of one connection.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the accept loop waits before looking at the stop flag.
const POLL_MS: i32 = 200;

/// Binds `addr`: done before the probes load, so a bad address or a port in
/// use costs only its one-line message.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let l = TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

pub struct MetricsServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    pub fn start(listener: TcpListener, board: Board) -> io::Result<MetricsServer> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("swit-metrics".into())
            .spawn(move || serve(listener, board, flag))?;
        Ok(MetricsServer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: TcpListener, board: Board, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                // A client that breaks off is its own problem.
                let _ = handle(stream, &board);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut pfd = libc::pollfd {
                    fd: listener.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut pfd, 1, POLL_MS) };
            }
            // EMFILE and the like: wait rather than spin.
            Err(_) => std::thread::sleep(Duration::from_millis(POLL_MS as u64)),
        }
    }
}

fn handle(mut stream: TcpStream, board: &Board) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            write(
                &mut stream,
                431,
                "text/plain",
                b"request head too large\n",
                true,
            )?;
            // Closing with unread bytes would reset the connection and
            // could lose the answer: read a bounded rest first.
            stream.shutdown(std::net::Shutdown::Write)?;
            let _ = io::copy(
                &mut (&mut stream).take(16 * MAX_HEAD as u64),
                &mut io::sink(),
            );
            return Ok(());
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let (status, ctype, body, head_only) = respond(&head, board, Instant::now());
    write(&mut stream, status, ctype, body.as_bytes(), !head_only)
}

/// The answer to a request head: status, content type, body, and whether
/// the body is left out (HEAD).
pub fn respond(head: &[u8], board: &Board, now: Instant) -> (u16, &'static str, String, bool) {
    const TEXT: &str = "text/plain; charset=utf-8";
    let line = head
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or(&[]);
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return (405, TEXT, "only GET\n".into(), false);
    }
    match path {
        "/metrics" => match board.latest() {
            Some(s) => (
                200,
                prometheus::CONTENT_TYPE,
                {
                    let mut text = prometheus::render(&families(&s));
                    prometheus::render_requests(&s.requests, &mut text);
                    text
                },
                head_only,
            ),
            None => (503, TEXT, "starting\n".into(), head_only),
        },
        "/healthz" => {
            let (status, body) = board.health(now).answer();
            (status, TEXT, body.into(), head_only)
        }
        _ => (
            404,
            TEXT,
            "not found: try /metrics or /healthz\n".into(),
            head_only,
        ),
    }
}

fn write(
    stream: &mut TcpStream,
    status: u16,
    ctype: &str,
    body: &[u8],
    with_body: bool,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if with_body {
        stream.write_all(body)?;
    }
    stream.flush()
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;

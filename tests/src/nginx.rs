//! Debian's nginx as a traced server: HTTP/1.1, HTTP/2 (cleartext or TLS),
//! sendfile, and a configuration tuned for load.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use crate::{Proc, free_port, pki, require_tool, root, wait_for, wait_for_opt};

/// nginx (Debian's) serving on a free port: `/ok` (200 "ok"), `/missing`
/// (404) and `/file.bin` (300,000 bytes, large enough that nginx sends it
/// with sendfile).
///
/// [`Nginx::start_h2`] and [`Nginx::start_h2_tls`] add a second server,
/// HTTP/2 only, on [`Nginx::h2_port`]: `/` ([`NGINX_H2_ROOT_BODY`]), `/api`
/// ([`NGINX_H2_API_BODY`]) and the same three locations.
pub struct Nginx {
    pub proc: Proc,
    pub port: u16,
    pub dir: PathBuf,
    /// The HTTP/2 listener, when started with one.
    pub h2_port: Option<u16>,
}

/// What nginx's HTTP/2 server answers at `/`.
pub const NGINX_H2_ROOT_BODY: &str = "hello over h2\n";
/// What nginx's HTTP/2 server answers at `/api` (application/json).
pub const NGINX_H2_API_BODY: &str = "{\"ok\":true,\"via\":\"nginx-h2\"}";

/// The HTTP/2 server nginx is started with.
enum H2 {
    None,
    /// h2c with prior knowledge: nginx 1.22's `listen ... http2` without ssl
    /// speaks HTTP/2 from the first byte (no HTTP/1.1 Upgrade).
    Cleartext,
    /// h2 over TLS, chosen by ALPN.
    Tls {
        cert: PathBuf,
        key: PathBuf,
    },
}

impl Nginx {
    pub fn start() -> Nginx {
        Self::start_with(H2::None, None, false)
    }

    /// As [`Nginx::start`], but `port` speaks TLS with the PKI's server
    /// certificate (nginx links the system libssl).
    pub fn start_tls(pki: &pki::TestPki) -> Nginx {
        Self::start_with(H2::None, Some(pki), false)
    }

    /// With an HTTP/2 cleartext (prior knowledge) server on
    /// [`Nginx::h2_port`], as `h2load http://127.0.0.1:PORT/` or
    /// `nghttp` speak it.
    pub fn start_h2() -> Nginx {
        Self::start_with(H2::Cleartext, None, false)
    }

    /// With an HTTP/2 over TLS server on [`Nginx::h2_port`], presenting
    /// `cert` and `key` (PEM; e.g. [`pki::TestPki`]'s server pair).
    pub fn start_h2_tls(cert: &Path, key: &Path) -> Nginx {
        Self::start_with(
            H2::Tls {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            },
            None,
            false,
        )
    }

    /// As [`Nginx::start`], sized for load tests: 30,000 connections per
    /// worker, and request heads may take 300 s and 128 KiB to arrive.
    pub fn start_for_load() -> Nginx {
        Self::start_with(H2::None, None, true)
    }

    /// The HTTP/2 port; panics when nginx was started without one.
    pub fn h2(&self) -> u16 {
        self.h2_port
            .expect("nginx was started without HTTP/2: use Nginx::start_h2")
    }

    fn start_with(h2: H2, tls: Option<&pki::TestPki>, load: bool) -> Nginx {
        require_tool("nginx");
        let dir =
            root()
                .join("target/e2e")
                .join(format!("nginx-{}-{}", std::process::id(), free_port()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["logs", "html", "tmp"] {
            std::fs::create_dir_all(dir.join(d)).expect("nginx dirs");
        }
        std::fs::write(dir.join("html/file.bin"), vec![b'z'; 300_000]).expect("file.bin");
        let port = free_port();
        let listen = match tls {
            None if load => format!("listen 127.0.0.1:{port} backlog=4096;"),
            None => format!("listen 127.0.0.1:{port};"),
            Some(pki) => format!(
                "listen 127.0.0.1:{port} ssl; ssl_certificate {}; ssl_certificate_key {};",
                pki.server_cert.display(),
                pki.server_key.display()
            ),
        };
        let h2_port = (!matches!(h2, H2::None)).then(free_port);
        let h2_server = match (&h2, h2_port) {
            (H2::None, _) | (_, None) => String::new(),
            (H2::Cleartext, Some(p)) => Self::h2_server(&dir, &format!("{p} http2"), ""),
            (H2::Tls { cert, key }, Some(p)) => Self::h2_server(
                &dir,
                &format!("{p} ssl http2"),
                &format!(
                    "ssl_certificate {}; ssl_certificate_key {};",
                    cert.display(),
                    key.display()
                ),
            ),
        };
        let (events, limits) = match load {
            false => ("worker_connections 256;", ""),
            true => (
                "worker_connections 30000;",
                "keepalive_timeout 300s; client_header_timeout 300s; large_client_header_buffers 8 16k;",
            ),
        };
        let conf = format!(
            "daemon off; worker_processes 2; worker_rlimit_nofile 65536; pid {d}/nginx.pid; error_log {d}/logs/error.log;
events {{ {events} }}
http {{
  access_log off; sendfile on; keepalive_requests 1000000; {limits}
  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
  server {{
    {listen}
    root {d}/html;
    location = /ok {{ return 200 'ok'; }}
    location = /missing {{ return 404; }}
  }}
{h2_server}}}",
            d = dir.display()
        );
        std::fs::write(dir.join("nginx.conf"), conf).expect("nginx.conf");
        let proc = Proc::spawn(
            "nginx",
            Command::new("nginx")
                .arg("-c")
                .arg(dir.join("nginx.conf"))
                .arg("-e")
                .arg(dir.join("logs/error.log")),
        );
        let mut ng = Nginx {
            proc,
            port,
            dir,
            h2_port,
        };
        for p in std::iter::once(port).chain(h2_port) {
            wait_for("nginx to listen", Duration::from_secs(30), || {
                if let Some(st) = ng.proc.child.try_wait().ok().flatten() {
                    panic!(
                        "nginx exited with {st}: {}",
                        std::fs::read_to_string(ng.dir.join("logs/error.log")).unwrap_or_default()
                    );
                }
                std::net::TcpStream::connect(("127.0.0.1", p)).ok()
            });
        }
        ng
    }

    /// The HTTP/2 server block. One connection must carry long h2load runs
    /// (keepalive_requests counts streams) with at least 128 concurrent
    /// streams (`h2load -m 128`).
    fn h2_server(dir: &Path, listen: &str, tls: &str) -> String {
        format!(
            "  server {{
    listen 127.0.0.1:{listen};
    {tls}
    http2_max_concurrent_streams 256;
    keepalive_requests 1000000;
    root {d}/html;
    location = / {{ default_type text/plain; return 200 '{root}'; }}
    location = /api {{ default_type application/json; return 200 '{api}'; }}
    location = /ok {{ return 200 'ok'; }}
    location = /missing {{ return 404; }}
  }}
",
            d = dir.display(),
            root = NGINX_H2_ROOT_BODY.replace('\n', "\\n"),
            api = NGINX_H2_API_BODY,
        )
    }
}

impl Drop for Nginx {
    /// SIGTERM lets the master stop its workers; a SIGKILL (what `Proc`
    /// would send) leaves them running, orphaned, holding the port.
    fn drop(&mut self) {
        self.proc.signal(libc::SIGTERM);
        let _ = wait_for_opt(Duration::from_secs(10), || {
            self.proc.child.try_wait().ok().flatten()
        });
    }
}

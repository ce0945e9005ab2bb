//! Real database servers from Debian, started by the tests on loopback
//! without systemd: PostgreSQL 15, MariaDB 10.11 and Redis 7, each on a
//! free 127.0.0.1 port, with its files under target/e2e, stopped (and its
//! files removed) on drop.
//!
//! Each has a user `app` with the password [`PASSWORD`] that must cross
//! the wire, and (SQL) a database `appdb` holding a table
//! `users(id int primary key, name text)` with the rows [`USERS`].
use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use crate::{Proc, free_port, require_tool, root, wait_for};

/// The password of the `app` user on every server.
pub const PASSWORD: &str = "s3cret-pw";

/// The rows of `appdb.users`: values that must never appear in a span.
pub const USERS: &[(i64, &str)] = &[
    (910001, "alice-zq81"),
    (910002, "bob-kx52"),
    (910003, "carol-mv37"),
];

const START: Duration = Duration::from_secs(60);

/// A fresh directory for one server under target/e2e.
fn server_dir(kind: &str) -> PathBuf {
    let dir =
        root()
            .join("target/e2e")
            .join(format!("{kind}-{}-{}", std::process::id(), free_port()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// uid and gid of a system user, from /etc/passwd.
fn user_ids(name: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| (f[2].parse().unwrap(), f[3].parse().unwrap()))
        })
        .unwrap_or_else(|| {
            panic!("no system user `{name}`: run `cargo xtask setup` (its package creates it)")
        })
}

/// Gives `dir` (recursively) to `user`.
fn chown(dir: &Path, user: &str) {
    let (uid, gid) = user_ids(user);
    for e in walk(dir) {
        std::os::unix::fs::lchown(&e, Some(uid), Some(gid))
            .unwrap_or_else(|err| panic!("chown {}: {err}", e.display()));
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if dir.is_dir() {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            out.extend(walk(&e.path()));
        }
    }
    out
}

/// Runs `cmd` to completion, panicking with its output when it fails.
fn run(what: &str, cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command run as the system user `user`.
fn as_user(user: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let (uid, gid) = user_ids(user);
    let mut cmd = Command::new(program);
    cmd.uid(uid).gid(gid).env("HOME", "/tmp");
    // std drops root's supplementary groups when it sets the uid.
    cmd
}

fn tcp_up(port: u16) -> Option<()> {
    std::net::TcpStream::connect(("127.0.0.1", port))
        .ok()
        .map(|_| ())
}

fn users_values() -> String {
    USERS
        .iter()
        .map(|(id, name)| format!("({id}, '{name}')"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// PostgreSQL 15 on 127.0.0.1: `app` logs in over TCP with a cleartext
/// password (`password` in pg_hba.conf: the password itself crosses the
/// wire); `app_scram` (a member of `app`, same password) with SCRAM-SHA-256;
/// `postgres` over the Unix socket in [`Postgres::dir`] without one.
pub struct Postgres {
    pub port: u16,
    /// The postmaster's PID.
    pub pid: u32,
    /// Holds data/, the log and the Unix socket.
    pub dir: PathBuf,
}

/// Debian's PostgreSQL 15 server programs.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

impl Postgres {
    pub fn start() -> Postgres {
        Self::start_with(None)
    }

    /// As [`Postgres::start`], with `ssl=on` and the PKI's server
    /// certificate: libpq clients then use TLS unless told `sslmode=disable`.
    pub fn start_tls(pki: &crate::pki::TestPki) -> Postgres {
        Self::start_with(Some(pki))
    }

    fn start_with(tls: Option<&crate::pki::TestPki>) -> Postgres {
        let bin = Path::new(PG_BIN);
        if !bin.join("initdb").is_file() || !bin.join("pg_ctl").is_file() {
            panic!(
                "PostgreSQL 15 is not installed ({PG_BIN}/initdb): run `cargo xtask setup` \
                 (installs postgresql)"
            );
        }
        require_tool("psql");
        let dir = server_dir("pg");
        chown(&dir, "postgres");
        let data = dir.join("data");
        // Made now so that a failed setup still stops and removes it.
        let mut pg = Postgres {
            port: free_port(),
            pid: 0,
            dir: dir.clone(),
        };
        run(
            "initdb",
            as_user("postgres", bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args(["-A", "trust", "-U", "postgres", "--no-sync"]),
        );
        // First match wins: the Unix socket trusts everyone (setup), TCP
        // asks a password of everyone but postgres.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             host all postgres 127.0.0.1/32 trust\n\
             host all app_scram 127.0.0.1/32 scram-sha-256\n\
             host all all 127.0.0.1/32 password\n",
        )
        .expect("write pg_hba.conf");
        let port = pg.port;
        let mut ssl = String::new();
        if let Some(pki) = tls {
            // The server refuses a key others can read; it runs as postgres.
            let (uid, gid) = user_ids("postgres");
            for (from, to, mode) in [
                (&pki.server_cert, "server.crt", 0o644),
                (&pki.server_key, "server.key", 0o600),
            ] {
                let dst = dir.join(to);
                std::fs::copy(from, &dst).unwrap_or_else(|e| panic!("copy {to}: {e}"));
                std::os::unix::fs::lchown(&dst, Some(uid), Some(gid)).expect("chown");
                std::fs::set_permissions(&dst, std::os::unix::fs::PermissionsExt::from_mode(mode))
                    .expect("chmod");
            }
            ssl = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                dir.join("server.crt").display(),
                dir.join("server.key").display()
            );
        }
        run(
            "pg_ctl start",
            as_user("postgres", bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-o")
                .arg(format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                     -c synchronous_commit=off -c full_page_writes=off{ssl}",
                    dir.display()
                ))
                .arg("-l")
                .arg(dir.join("log"))
                .args(["-w", "-t", "60", "start"]),
        );
        let pid = wait_for("postmaster.pid", START, || {
            std::fs::read_to_string(data.join("postmaster.pid"))
                .ok()?
                .lines()
                .next()?
                .trim()
                .parse()
                .ok()
        });
        pg.pid = pid;
        wait_for("PostgreSQL to listen", START, || tcp_up(port));
        // One statement per call: CREATE DATABASE cannot run in the
        // transaction a multi-statement -c is.
        for sql in [
            format!("CREATE ROLE app LOGIN PASSWORD '{PASSWORD}'"),
            format!("CREATE ROLE app_scram LOGIN PASSWORD '{PASSWORD}' IN ROLE app"),
            "CREATE DATABASE appdb OWNER app".to_string(),
        ] {
            pg.psql_socket("postgres", &sql);
        }
        pg.psql_socket_as(
            "app",
            "appdb",
            &format!(
                "CREATE TABLE users(id int primary key, name text);
                 INSERT INTO users VALUES {};",
                users_values()
            ),
        );
        let n = pg.psql_socket_as("app", "appdb", "SELECT count(*) FROM users");
        assert_eq!(n.trim(), USERS.len().to_string(), "appdb.users filled");
        pg
    }

    /// Runs SQL as `postgres` through the Unix socket (not over TCP, so
    /// it is never what a traced client sent).
    pub fn psql_socket(&self, db: &str, sql: &str) -> String {
        self.psql_socket_as("postgres", db, sql)
    }

    pub fn psql_socket_as(&self, user: &str, db: &str, sql: &str) -> String {
        run(
            "psql (setup)",
            Command::new("psql")
                .arg("-h")
                .arg(&self.dir)
                .arg("-p")
                .arg(self.port.to_string())
                .args([
                    "-U",
                    user,
                    "-d",
                    db,
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-qAt",
                    "-c",
                    sql,
                ]),
        )
    }

    /// `pgbench -i -s 1 appdb` as `app` through the Unix socket.
    pub fn pgbench_init(&self) {
        require_tool("pgbench");
        run(
            "pgbench -i",
            Command::new("pgbench")
                .arg("-h")
                .arg(&self.dir)
                .arg("-p")
                .arg(self.port.to_string())
                .args(["-U", "app", "-i", "-q", "-s", "1", "appdb"]),
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_user("postgres", Path::new(PG_BIN).join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// MariaDB 10.11 on 127.0.0.1: `app`@`%` with [`PASSWORD`]
/// (mysql_native_password) and all privileges; root without a password
/// through the Unix socket [`Mariadb::socket`].
pub struct Mariadb {
    pub port: u16,
    /// mariadbd's PID.
    pub pid: u32,
    pub dir: PathBuf,
    proc: Option<Proc>,
}

impl Mariadb {
    pub fn start() -> Mariadb {
        require_tool("mariadb-install-db");
        require_tool("mariadb");
        require_tool("mariadb-admin");
        if !Path::new("/usr/sbin/mariadbd").is_file() {
            panic!(
                "`mariadbd` is not installed: run `cargo xtask setup` (installs mariadb-server)"
            );
        }
        let dir = server_dir("mariadb");
        chown(&dir, "mysql");
        let data = dir.join("data");
        run(
            "mariadb-install-db",
            Command::new("mariadb-install-db")
                .args(["--no-defaults", "--user=mysql"])
                .arg(format!("--datadir={}", data.display()))
                .args([
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--skip-name-resolve",
                ]),
        );
        let port = free_port();
        let sock = dir.join("mysqld.sock");
        let proc = Proc::spawn(
            "mariadbd",
            Command::new("/usr/sbin/mariadbd")
                .args(["--no-defaults", "--user=mysql"])
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--socket={}", sock.display()))
                .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
                .arg(format!("--port={port}"))
                .args(["--bind-address=127.0.0.1", "--skip-name-resolve"])
                .arg(format!("--log-error={}", dir.join("err.log").display()))
                .args([
                    "--skip-log-bin",
                    "--innodb-flush-log-at-trx-commit=0",
                    "--innodb-buffer-pool-size=32M",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let mut m = Mariadb {
            port,
            pid: proc.pid(),
            dir,
            proc: Some(proc),
        };
        wait_for("MariaDB to listen", START, || {
            if let Some(st) = m
                .proc
                .as_mut()
                .and_then(|p| p.child.try_wait().ok().flatten())
            {
                panic!(
                    "mariadbd exited with {st}: {}",
                    std::fs::read_to_string(m.dir.join("err.log")).unwrap_or_default()
                );
            }
            (tcp_up(port).is_some() && m.socket().exists()).then_some(())
        });
        m.sql_socket(&format!(
            "CREATE USER 'app'@'%' IDENTIFIED BY '{PASSWORD}';
             GRANT ALL ON *.* TO 'app'@'%';
             CREATE DATABASE appdb;
             CREATE TABLE appdb.users(id int primary key, name text);
             INSERT INTO appdb.users VALUES {};",
            users_values()
        ));
        m
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("mysqld.sock")
    }

    /// Runs SQL as root through the Unix socket.
    pub fn sql_socket(&self, sql: &str) -> String {
        run(
            "mariadb (setup)",
            Command::new("mariadb")
                .arg("--no-defaults")
                .arg(format!("--socket={}", self.socket().display()))
                .args(["-uroot", "-N", "-B", "-e", sql]),
        )
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        let _ = Command::new("mariadb-admin")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .args(["-uroot", "shutdown"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut p) = self.proc.take() {
            let exited = {
                let deadline = std::time::Instant::now() + crate::scaled(Duration::from_secs(20));
                loop {
                    if p.child.try_wait().ok().flatten().is_some() {
                        break true;
                    }
                    if std::time::Instant::now() > deadline {
                        break false;
                    }
                    std::thread::park_timeout(Duration::from_millis(20));
                }
            };
            if !exited {
                drop(p); // SIGKILL
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Redis 7 on 127.0.0.1 with `requirepass` [`PASSWORD`], no persistence.
pub struct Redis {
    pub port: u16,
    pub pid: u32,
    pub dir: PathBuf,
    proc: Option<Proc>,
}

impl Redis {
    pub fn start() -> Redis {
        Self::start_with(None)
    }

    /// As [`Redis::start`], but `port` speaks TLS only (with the PKI's
    /// server certificate; clients need no certificate).
    pub fn start_tls(pki: &crate::pki::TestPki) -> Redis {
        Self::start_with(Some(pki))
    }

    fn start_with(tls: Option<&crate::pki::TestPki>) -> Redis {
        require_tool("redis-server");
        require_tool("redis-cli");
        let dir = server_dir("redis");
        let port = free_port();
        let mut cmd = Command::new("redis-server");
        match tls {
            None => {
                cmd.arg("--port").arg(port.to_string());
            }
            Some(pki) => {
                cmd.args(["--port", "0", "--tls-port"])
                    .arg(port.to_string())
                    .arg("--tls-cert-file")
                    .arg(&pki.server_cert)
                    .arg("--tls-key-file")
                    .arg(&pki.server_key)
                    .args(["--tls-auth-clients", "no"]);
            }
        }
        let proc = Proc::spawn(
            "redis-server",
            cmd.args(["--bind", "127.0.0.1", "--requirepass", PASSWORD])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(&dir)
                .arg("--logfile")
                .arg(dir.join("redis.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        wait_for("Redis to listen", START, || tcp_up(port));
        Redis {
            port,
            pid: proc.pid(),
            dir,
            proc: Some(proc),
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        drop(self.proc.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

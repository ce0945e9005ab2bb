//! For the fault tests: a client that sends requests one at a time over one
//! connection, as the test says, and the BPF objects a process holds.
use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader, Lines, Write},
    process::{ChildStdin, ChildStdout, Command, Stdio},
};

use crate::{Proc, fixture, require_tool};

/// tests/fixtures/line_client.py: one kept-alive connection; each
/// [`LineClient::get`] is one request on it.
pub struct LineClient {
    pub proc: Proc,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl LineClient {
    pub fn connect(port: u16) -> LineClient {
        let (proc, stdin, stdout) =
            driven("line_client.py", &[format!("127.0.0.1:{port}")], "ready");
        LineClient {
            proc,
            stdin,
            stdout,
        }
    }

    /// GET `path`; the response status.
    pub fn get(&mut self, path: &str) -> u16 {
        writeln!(self.stdin, "{path}").expect("write to line_client.py");
        self.stdin.flush().expect("flush");
        let line = self
            .stdout
            .next()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("line_client.py stopped at {path}"));
        line.trim()
            .parse()
            .unwrap_or_else(|_| panic!("line_client.py: {line}"))
    }
}

/// tests/fixtures/load_client.py: `threads` connections keeping `path`
/// busy until [`LoadClient::finish`].
pub struct LoadClient {
    pub proc: Proc,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl LoadClient {
    /// Returns once every connection has had an answer.
    pub fn start(port: u16, path: &str, threads: u32) -> LoadClient {
        let args = [port.to_string(), path.to_string(), threads.to_string()];
        let (proc, stdin, stdout) = driven("load_client.py", &args, "running");
        LoadClient {
            proc,
            stdin,
            stdout,
        }
    }

    /// Stops the load: (requests, failures).
    pub fn finish(mut self) -> (u64, u64) {
        writeln!(self.stdin, "stop").expect("write to load_client.py");
        let line = self
            .stdout
            .next()
            .and_then(Result::ok)
            .expect("load_client.py's counts");
        let n: Vec<u64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        match n[..] {
            [requests, failures] => (requests, failures),
            _ => panic!("load_client.py: {line}"),
        }
    }
}

/// A Python fixture driven through its stdin and stdout, once it has said
/// `first`.
fn driven(
    name: &str,
    args: &[String],
    first: &str,
) -> (Proc, ChildStdin, Lines<BufReader<ChildStdout>>) {
    require_tool("python3");
    let mut proc = Proc::spawn(
        name,
        Command::new("python3")
            .arg(fixture(name))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    );
    let stdin = proc.child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(proc.child.stdout.take().expect("stdout")).lines();
    let said = stdout.next().and_then(Result::ok);
    assert_eq!(said.as_deref(), Some(first), "{name} did not start");
    (proc, stdin, stdout)
}

/// The BPF programs, maps and links a process holds file descriptors for
/// (`prog_id:`, `map_id:`, `link_id:` in /proc/PID/fdinfo).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BpfObjects {
    pub progs: BTreeSet<u32>,
    pub maps: BTreeSet<u32>,
    pub links: BTreeSet<u32>,
}

impl BpfObjects {
    pub fn held_by(pid: u32) -> BpfObjects {
        let mut o = BpfObjects::default();
        let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
            return o;
        };
        for e in dir.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            for line in text.lines() {
                let mut kv = line.splitn(2, ':');
                let (Some(k), Some(v)) = (kv.next(), kv.next()) else {
                    continue;
                };
                let Ok(id) = v.trim().parse::<u32>() else {
                    continue;
                };
                match k {
                    "prog_id" => o.progs.insert(id),
                    "map_id" => o.maps.insert(id),
                    "link_id" => o.links.insert(id),
                    _ => false,
                };
            }
        }
        o
    }

    pub fn is_empty(&self) -> bool {
        self.progs.is_empty() && self.maps.is_empty() && self.links.is_empty()
    }

    /// Which of these objects still exist anywhere on the host (asked of
    /// the kernel by id, whoever holds them).
    pub fn still_loaded(&self) -> BpfObjects {
        BpfObjects {
            progs: self
                .progs
                .iter()
                .copied()
                .filter(|&id| exists(BPF_PROG_GET_FD_BY_ID, id))
                .collect(),
            maps: self
                .maps
                .iter()
                .copied()
                .filter(|&id| exists(BPF_MAP_GET_FD_BY_ID, id))
                .collect(),
            links: self
                .links
                .iter()
                .copied()
                .filter(|&id| exists(BPF_LINK_GET_FD_BY_ID, id))
                .collect(),
        }
    }
}

const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_MAP_GET_FD_BY_ID: libc::c_long = 14;
const BPF_LINK_GET_FD_BY_ID: libc::c_long = 30;

/// Whether the kernel still has object `id` (ENOENT once it is freed).
fn exists(cmd: libc::c_long, id: u32) -> bool {
    // union bpf_attr for the *_GET_FD_BY_ID commands: the id, then
    // next_id and open_flags, which must be zero.
    let attr: [u32; 3] = [id, 0, 0];
    // SAFETY: a valid command and a buffer of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    if fd >= 0 {
        // SAFETY: the fd was just returned to us.
        unsafe { libc::close(fd as i32) };
        return true;
    }
    std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOENT)
}

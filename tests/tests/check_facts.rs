//! `swit-agent check` against what the kernel really offers, gathered here
//! another way: the kernel's build configuration (/proc/config.gz or
//! /boot/config-RELEASE), /proc/mounts, /proc/filesystems, securityfs.
//! `cargo xtask test` runs it on the host's kernel and, with `--kernel`,
//! on Debian's 6.1 in a guest: one kernel with kprobes and no lockdown,
//! one with neither.
use std::{collections::HashMap, fs, io::Read, path::Path, process::Command};

use swit_tests::{agent_bin, require_root};

/// One line of `check`: its mark (ok, no, FAIL, ??) and what it saw.
#[derive(Debug)]
struct Said {
    mark: String,
    line: String,
}

impl Said {
    fn ok(&self) -> bool {
        self.mark == "ok"
    }
}

fn check() -> HashMap<String, Said> {
    let out = Command::new(agent_bin()).arg("check").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "swit must run here:\n{text}");
    // "MARK FEATURE(padded to 22) DETAIL ...": features hold single spaces.
    text.lines()
        .filter(|l| l.len() > 27 && !l.starts_with("swit "))
        .map(|l| {
            let (mark, rest) = l.split_at(4);
            let feature = rest[1..23].trim().to_string();
            let said = Said {
                mark: mark.trim().to_string(),
                line: l.to_string(),
            };
            (feature, said)
        })
        .collect()
}

/// The running kernel's build configuration: `CONFIG_X` -> value.
fn kernel_config(release: &str) -> HashMap<String, String> {
    let text = match fs::File::open("/proc/config.gz") {
        Ok(f) => {
            let mut s = String::new();
            flate2::read::GzDecoder::new(f)
                .read_to_string(&mut s)
                .expect("read /proc/config.gz");
            s
        }
        Err(_) => fs::read_to_string(format!("/boot/config-{release}")).unwrap_or_else(|e| {
            panic!("no /proc/config.gz and no /boot/config-{release} ({e}): cannot check")
        }),
    };
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn mounts_of_type(fstype: &str) -> Vec<String> {
    fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&fstype)).then(|| f[1].to_string())
        })
        .collect()
}

/// securityfs's lockdown file; when securityfs is not mounted, read in a
/// private mount namespace (util-linux's unshare, not the agent's code).
fn lockdown_file() -> Option<String> {
    const FILE: &str = "/sys/kernel/security/lockdown";
    if let Ok(s) = fs::read_to_string(FILE) {
        return Some(s);
    }
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount -t securityfs securityfs /sys/kernel/security && cat {FILE}"
        ))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

fn version(release: &str) -> (u32, u32) {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    let major = it.next().unwrap().parse().unwrap();
    let minor = it.next().unwrap().parse().unwrap();
    (major, minor)
}

#[test]
fn check_says_what_the_kernel_really_offers() {
    require_root();
    let said = check();
    let release = fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap()
        .trim()
        .to_string();
    let config = kernel_config(&release);
    let y = |k: &str| config.get(k).is_some_and(|v| v == "y");
    let line = |f: &str| -> &Said {
        said.get(f)
            .unwrap_or_else(|| panic!("no {f} line in check's output: {said:#?}"))
    };
    let lockdown = lockdown_file().and_then(|s| {
        s.split_whitespace()
            .find(|w| w.starts_with('['))
            .map(|w| w.trim_matches(['[', ']']).to_string())
    });
    let v = version(&release);
    eprintln!("kernel {release}: lockdown {lockdown:?}");
    for s in said.values() {
        eprintln!("  {}", s.line);
    }

    assert!(line("kernel").line.contains(&release));
    assert!(line("privileges").ok());
    let btf = Path::new("/sys/kernel/btf/vmlinux").exists();
    assert_eq!(btf, y("CONFIG_DEBUG_INFO_BTF"));
    assert_eq!(line("BTF").ok(), btf, "{}", line("BTF").line);

    // tracefs: mounted (directly, or under debugfs) or mountable.
    let tracefs_mounted = !mounts_of_type("tracefs").is_empty()
        || mounts_of_type("debugfs")
            .iter()
            .any(|d| Path::new(d).join("tracing/events").is_dir());
    let t = line("tracefs");
    assert!(t.ok(), "{}", t.line);
    assert_eq!(t.line.contains("mounted at"), tracefs_mounted, "{}", t.line);
    assert_eq!(t.line.contains("mountable"), !tracefs_mounted, "{}", t.line);
    assert_eq!(
        line("syscall tracepoints").ok(),
        y("CONFIG_FTRACE_SYSCALLS")
    );
    assert!(line("sched tracepoints").ok());

    assert_eq!(
        line("ring buffer").ok(),
        y("CONFIG_BPF_SYSCALL") && v >= (5, 8)
    );
    assert_eq!(
        line("uprobes").ok(),
        y("CONFIG_UPROBE_EVENTS"),
        "{}",
        line("uprobes").line
    );
    let cgroup2 = mounts_of_type("cgroup2");
    let c = line("cgroup v2");
    assert_eq!(c.ok(), !cgroup2.is_empty(), "{}", c.line);
    if let Some(m) = cgroup2.first() {
        assert!(c.line.contains(m.as_str()), "{}", c.line);
    }
    // bpf_get_current_task_btf (5.11) and bpf_task_pt_regs (5.15).
    assert_eq!(
        line("task registers").ok(),
        v >= (5, 15),
        "{}",
        line("task registers").line
    );

    assert_eq!(
        line("bpf_loop").ok(),
        v >= (5, 17),
        "{}",
        line("bpf_loop").line
    );
    assert_eq!(
        line("attach cookie").ok(),
        v >= (5, 15),
        "{}",
        line("attach cookie").line
    );

    let confidentiality = lockdown.as_deref() == Some("confidentiality");
    let k = line("kprobes");
    assert_eq!(
        k.ok(),
        y("CONFIG_KPROBES") && y("CONFIG_KPROBE_EVENTS") && !confidentiality,
        "{}",
        k.line
    );
    if !y("CONFIG_KPROBES") {
        assert!(k.line.contains("CONFIG_KPROBES off"), "{}", k.line);
    }

    // fentry: built in on both kernels here; whether this kernel lets a
    // trampoline be attached is what check must find out by trying.
    let f = line("fentry/fexit");
    if !(y("CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS") && y("CONFIG_BPF_JIT")) {
        assert!(!f.ok(), "{}", f.line);
    }
    assert!(f.mark == "ok" || f.mark == "no", "{}", f.line);

    let s = line("sk_msg on cgroups");
    assert_eq!(
        s.ok(),
        y("CONFIG_CGROUP_BPF") && y("CONFIG_BPF_STREAM_PARSER") && y("CONFIG_NET_SOCK_MSG"),
        "{}",
        s.line
    );

    let l = line("lockdown");
    match &lockdown {
        Some(m) => assert!(l.line.contains(m.as_str()), "{m}: {}", l.line),
        None => assert_eq!(l.mark, "??", "{}", l.line),
    }
    assert_eq!(l.mark == "FAIL", confidentiality, "{}", l.line);
}

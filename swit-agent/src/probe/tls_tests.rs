//! Tests of tls.rs: rescans, libssl names and symbols, each file once.
use super::*;

#[test]
fn rescans_go_round_the_targets() {
    let pids = [3, 5, 8, 13, 21];
    assert_eq!(next_batch(&pids, 0, 2), [3, 5]);
    assert_eq!(next_batch(&pids, 5, 2), [8, 13]);
    assert_eq!(next_batch(&pids, 13, 2), [21, 3]);
    assert_eq!(next_batch(&pids, 99, 2), [3, 5]);
    assert_eq!(next_batch(&pids, 0, 10), pids);
    assert!(next_batch(&[], 4, 2).is_empty());
}

const MAPS: &str = "\
55ea11a68000-55ea11a6a000 r--p 00000000 fe:00 247282                     /usr/bin/python3.11
55ea11a6a000-55ea11a70000 r-xp 00002000 fe:00 247282                     /usr/bin/python3.11
7f0000000000-7f0000001000 r-xp 00000000 fe:00 1001                       /usr/lib/x86_64-linux-gnu/libssl.so.3
7f0000001000-7f0000002000 r-xp 00001000 fe:00 1001                       /usr/lib/x86_64-linux-gnu/libssl.so.3
7f0000002000-7f0000003000 r-xp 00000000 fe:01 1001                       /venv/psycopg2_binary.libs/libssl-81ffa89e.so.3
7f0000003000-7f0000004000 r-xp 00000000 00:00 0                          [vdso]
7f0000004000-7f0000005000 rw-p 00000000 00:00 0                          [heap]
7f0000005000-7f0000006000 r-xp 00000000 fe:00 2002                       /tmp/a lib with spaces.so
7f0000006000-7f0000007000 r-xp 00000000 fe:00 3003                       /tmp/gone.so (deleted)
7f0000007000-7f0000008000 r-xp 00000000 00:00 0
garbage
";

#[test]
fn maps_give_each_executable_file_once() {
    let got: Vec<(u32, u32, u64, String)> = parse_maps(MAPS)
        .into_iter()
        .map(|m| (m.dev.0, m.dev.1, m.inode, m.path))
        .collect();
    let want = |v: &[(u32, u32, u64, &str)]| -> Vec<(u32, u32, u64, String)> {
        v.iter()
            .map(|(a, b, c, d)| (*a, *b, *c, d.to_string()))
            .collect()
    };
    assert_eq!(
        got,
        want(&[
            (0xfe, 0, 247282, "/usr/bin/python3.11"),
            (0xfe, 0, 1001, "/usr/lib/x86_64-linux-gnu/libssl.so.3"),
            // Same inode, other device: another file.
            (
                0xfe,
                1,
                1001,
                "/venv/psycopg2_binary.libs/libssl-81ffa89e.so.3"
            ),
            (0xfe, 0, 2002, "/tmp/a lib with spaces.so"),
        ])
    );
    assert!(parse_maps("").is_empty());
}

#[test]
fn libssl_names() {
    for (p, want) in [
        ("/usr/lib/x86_64-linux-gnu/libssl.so.3", true),
        ("/v/psycopg2_binary.libs/libssl-81ffa89e.so.3", true),
        ("/usr/lib/libssl.so.1.1", true),
        // NSS's library: another API under SSL_ names.
        ("/usr/lib/x86_64-linux-gnu/libssl3.so", false),
        ("/usr/lib/x86_64-linux-gnu/libcrypto.so.3", false),
        ("/usr/bin/node", false),
    ] {
        assert_eq!(is_libssl_name(p), want, "{p}");
    }
}

#[test]
fn symbols_of_this_hosts_libssl_and_of_a_file_without_them() {
    let libssl = Path::new("/usr/lib/x86_64-linux-gnu/libssl.so.3");
    if libssl.is_file() {
        let s = ssl_symbols(libssl)
            .unwrap()
            .expect("libssl exports SSL_read");
        assert!(s.read != s.write && s.read > 0);
        assert!(s.read_ex.is_some() && s.write_ex.is_some(), "OpenSSL 3");
    }
    let me = std::env::current_exe().unwrap();
    assert_eq!(ssl_symbols(&me).unwrap(), None);
    assert!(ssl_symbols(Path::new("/no/such/file")).is_err());
    assert!(ssl_symbols(Path::new("/proc/self/status")).is_err());
}

#[derive(Default)]
struct Fake(Vec<PathBuf>);
impl TlsAttach for Fake {
    fn attach_tls(&mut self, target: &Path, _: &SslSymbols) -> Result<(), HookError> {
        self.0.push(target.to_path_buf());
        Ok(())
    }
    fn attach_go_spawn(&mut self, _: &Path, _: &GoSpawnHook) -> Result<(), HookError> {
        Ok(())
    }
    fn attach_go_tls(&mut self, target: &Path, _: &GoTlsBinary) -> Result<(), HookError> {
        self.0.push(target.to_path_buf());
        Ok(())
    }
}

#[test]
fn each_file_is_considered_once() {
    let mut hooks = TlsHooks::new();
    let mut fake = Fake::default();
    let me = std::process::id();
    hooks.scan([me, me], &mut fake);
    let n = hooks.seen.len();
    assert!(n > 0, "this test binary maps files");
    hooks.scan([me], &mut fake);
    assert_eq!(hooks.seen.len(), n);
    assert_eq!(hooks.hooked(), fake.0.len());
    assert!(fake.0.len() <= 1, "hooked once at most: {:?}", fake.0);
}

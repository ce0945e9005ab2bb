//! Tests of go_tls.rs: return sites, parameter offsets, and Go and non-Go files.
use super::*;

#[test]
fn ret_sites_are_found_by_decoding() {
    // Each row: machine code, the RET offsets in it.
    let rows: &[(&[u8], &[u64])] = &[
        (&[0xc3], &[0]),
        // sub rsp,0x18; add rsp,0x18; ret
        (
            &[0x48, 0x83, 0xec, 0x18, 0x48, 0x83, 0xc4, 0x18, 0xc3],
            &[8],
        ),
        // mov eax,0xc3c3c3c3 (RET bytes inside an immediate); ret; ret 8
        (
            &[0xb8, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc2, 0x08, 0x00],
            &[5, 6],
        ),
        // cmp r12,[r14+0x10]; jbe +0; nop; ret (a Go prologue shape)
        (&[0x4d, 0x3b, 0x66, 0x10, 0x76, 0x00, 0x90, 0xc3], &[7]),
        (&[0x90, 0x90], &[]),
    ];
    for (code, want) in rows {
        assert_eq!(ret_offsets(code, 0x401000).unwrap(), *want, "{code:x?}");
    }
    // Truncated or invalid instructions refuse the function.
    assert!(ret_offsets(&[0x48, 0x83], 0).is_err());
    assert!(
        ret_offsets(&[0x06], 0).is_err(),
        "push es is invalid in 64-bit"
    );
    assert!(ret_offsets(&[0xc3; MAX_RETS + 1], 0).is_err());
}

#[test]
fn params_add_the_embedded_offsets() {
    let mut m: HashMap<(String, String), u64> = HashMap::new();
    for ((s, f), v) in MEMBERS.iter().zip([0u64, 0, 0, 0, 16]) {
        m.insert((s.to_string(), f.to_string()), v);
    }
    let p = params_from_members(&m, 0x9132b8).unwrap();
    assert_eq!((p.conn, p.tcp_fd, p.sysfd, p.ready), (0, 0, 16, 1));
    assert_eq!(p.tcp_conn_itab, 0x9132b8);
    m.insert(("net.netFD".into(), "pfd".into()), 8);
    assert_eq!(params_from_members(&m, 0).unwrap().sysfd, 24);
    m.remove(&("net.conn".to_string(), "fd".to_string()));
    let err = params_from_members(&m, 0).unwrap_err().to_string();
    assert!(err.contains("net.conn.fd"), "{err}");
    m.insert(("net.conn".into(), "fd".into()), 1 << 40);
    assert!(params_from_members(&m, 0).is_err());
}

#[test]
fn files_that_are_not_go() {
    let me = std::env::current_exe().unwrap();
    assert_eq!(go_tls_binary(&me).unwrap(), GoProbe::NotGo);
    assert!(go_tls_binary(Path::new("/no/such/file")).is_err());
}

/// A Go binary the end-to-end tests built, when there is one (they
/// build it with golang-1.19; this unit test does not need Go).
#[test]
fn a_go_binary_built_by_the_tests() {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/go/bin/grpcdemo");
    if !bin.is_file() {
        eprintln!("skipped: {} not built", bin.display());
        return;
    }
    let GoProbe::Ready(b) = go_tls_binary(&bin).unwrap() else {
        panic!("grpcdemo uses crypto/tls");
    };
    assert!(!b.write.rets.is_empty() && !b.read.rets.is_empty());
    assert!(b.write.rets.iter().all(|&r| r > b.write.entry));
    // Stable since Go 1.9: conn first in tls.Conn and in TCPConn's
    // embedded conn; Sysfd after poll.FD's 16-byte fdMutex.
    assert_eq!((b.params.conn, b.params.tcp_fd, b.params.sysfd), (0, 0, 16));
    assert_ne!(b.params.tcp_conn_itab, 0);
}

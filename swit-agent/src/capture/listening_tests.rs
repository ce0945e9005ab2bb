//! Tests of listening.rs: which sockets listen, and which make this process the server.
use super::*;

const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
   2: 00000000:C351 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0
";
const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:C5E9 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 100 0 0 10 0
";

#[test]
fn only_listening_sockets_count() {
    assert_eq!(listening_ports(TCP), vec![8080, 50001]);
    assert_eq!(listening_ports(TCP6), vec![50665]);
    assert_eq!(listening_ports(""), Vec::<u16>::new());
    assert_eq!(
        listening_ports("header\ngarbage line\n  0: x\n"),
        Vec::<u16>::new()
    );
}

#[test]
fn this_process_listening_socket_makes_it_the_server() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let mut c = ListenCache::default();
    let t = |local: u16| Tuple {
        local: format!("127.0.0.1:{local}").parse().unwrap(),
        remote: "127.0.0.1:40000".parse().unwrap(),
    };
    let pid = std::process::id();
    assert_eq!(c.role_of(pid, &t(port)), Role::Server);
    // An ephemeral port nobody listens on: the process dialled out.
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let free = other.local_addr().unwrap().port();
    drop(other);
    c.by_pid.clear();
    assert_eq!(c.role_of(pid, &t(free)), Role::Client);
    assert_eq!(c.role_of(u32::MAX, &t(port)), Role::Unknown);
}

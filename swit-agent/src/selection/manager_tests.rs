//! Tests of manager.rs: listening sockets, pids, executables, cgroups and ports.
use super::*;

#[derive(Default)]
struct Fake {
    targets: BTreeSet<u32>,
    cgroups: BTreeSet<u64>,
    flags: u32,
}

impl TargetMap for Fake {
    fn add_target(&mut self, t: u32) {
        self.targets.insert(t);
    }
    fn remove_target(&mut self, t: u32) {
        self.targets.remove(&t);
    }
    fn add_cgroup(&mut self, id: u64) {
        self.cgroups.insert(id);
    }
    fn remove_cgroup(&mut self, id: u64) {
        self.cgroups.remove(&id);
    }
    fn set_filter(&mut self, f: u32) {
        self.flags = f;
    }
}

#[test]
fn listening_sockets_from_proc_net_tcp() {
    let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0
   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0
   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0
garbage line";
    assert_eq!(
        listening_inodes_in(text, &[8080]),
        vec![4242],
        "LISTEN only, by port"
    );
    assert_eq!(listening_inodes_in(text, &[80, 8080]), vec![4242, 4444]);
    assert!(listening_inodes_in(text, &[9]).is_empty());
}

#[test]
fn pids_exes_and_lifecycle() {
    let me = std::process::id();
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let mut m = TargetManager::new(Targets {
        pids: vec![me],
        ..Default::default()
    });
    let mut fake = Fake::default();
    assert!(m.start(&mut fake).unwrap().is_empty());
    assert!(
        fake.targets.contains(&me) && fake.targets.contains(&child.id()),
        "descendants at start"
    );
    assert_eq!(fake.flags, 0, "no optional filter");
    assert_eq!(
        m.on_change(ProcChange::Exit { pid: child.id() }, &mut fake),
        Follow::Gone(child.id())
    );
    assert!(!fake.targets.contains(&child.id()));
    assert_eq!(
        m.on_change(ProcChange::Fork { child: 77 }, &mut fake),
        Follow::Added(77)
    );
    assert_eq!(
        m.on_change(ProcChange::Exec { pid: me }, &mut fake),
        Follow::Renamed(me)
    );
    let _ = child.kill();
    let _ = child.wait();

    // Executable globs match at start and at exec.
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let mut m = TargetManager::new(Targets {
        exes: vec!["slee?".into()],
        ..Default::default()
    });
    let mut fake = Fake::default();
    assert!(m.start(&mut fake).unwrap().is_empty());
    assert!(fake.targets.contains(&sleeper.id()));
    assert_eq!(fake.flags, filter::EXEC);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let mut none = TargetManager::new(Targets {
        exes: vec!["no-such-program-*".into()],
        ports: vec![1],
        ..Default::default()
    });
    let w = none.start(&mut Fake::default()).unwrap();
    assert_eq!(
        w.len(),
        2,
        "one warning per selector that matches nothing: {w:?}"
    );
}

#[test]
fn a_missing_cgroup_is_an_error() {
    let mut m = TargetManager::new(Targets {
        cgroups: vec!["/sys/fs/cgroup/no/such/group".into()],
        ..Default::default()
    });
    assert_eq!(
        m.start(&mut Fake::default()),
        Err(TargetError::NoSuchCgroup(
            "/sys/fs/cgroup/no/such/group".into()
        ))
    );
}

#[test]
fn ports_match_at_listen() {
    let mut m = TargetManager::new(Targets {
        ports: vec![18123],
        ..Default::default()
    });
    let mut fake = Fake::default();
    m.start(&mut fake).unwrap();
    assert_eq!(fake.flags, filter::LISTEN);
    assert_eq!(
        m.on_change(ProcChange::Listen { pid: 9, port: 80 }, &mut fake),
        Follow::Nothing
    );
    assert_eq!(
        m.on_change(
            ProcChange::Listen {
                pid: 9,
                port: 18123
            },
            &mut fake
        ),
        Follow::Added(9)
    );
    assert!(fake.targets.contains(&9));
}

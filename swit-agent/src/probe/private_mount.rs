//! Looking inside a pseudo file system that is not mounted (tracefs,
//! securityfs) without mounting it on the host: a child process mounts it
//! in a private mount namespace, looks, reports in its exit code, and
//! exits; the host's mounts never change. `swit-agent check` uses this to
//! report what `run` would find.
use std::ffi::CString;

/// What a child found: a byte it computed, or a bitmask of paths present.
pub enum Look<'a> {
    /// Which of these paths (relative to the mount point; at most 7) exist.
    Exists(&'a [&'a str]),
    /// The first bytes of this file (relative to the mount point).
    Read(&'a str, fn(&[u8]) -> u8),
}

/// Mounts `fstype` at `at` in a private mount namespace of a child process
/// and answers `look` there. `None` when the child could not mount it (not
/// root, or refused). With [`Look::Exists`], bit i says whether path i
/// exists; with [`Look::Read`], the function's answer (0..=127).
pub fn look(fstype: &str, at: &str, look: Look<'_>) -> Option<u8> {
    let c = |s: &str| CString::new(s).expect("no NUL");
    // Everything the child touches is prepared before fork: after it, only
    // async-signal-safe calls.
    let (src, dst, fs, root) = (c("nodev"), c(at), c(fstype), c("/"));
    let (paths, read): (Vec<CString>, _) = match look {
        Look::Exists(p) => (
            p.iter().take(7).map(|p| c(&format!("{at}/{p}"))).collect(),
            None,
        ),
        Look::Read(p, f) => (vec![c(&format!("{at}/{p}"))], Some(f)),
    };
    let mut buf = [0u8; 256];
    // SAFETY: the child runs only unshare, mount, access, open, read and
    // _exit on memory prepared above; the parent waits for it.
    unsafe {
        let pid = libc::fork();
        if pid < 0 {
            return None;
        }
        if pid == 0 {
            let private = libc::MS_REC | libc::MS_PRIVATE;
            let null = std::ptr::null();
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(null, root.as_ptr(), null, private, std::ptr::null()) != 0
                || libc::mount(src.as_ptr(), dst.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) != 0
            {
                libc::_exit(255);
            }
            let code = match read {
                None => paths.iter().enumerate().fold(0, |bits, (i, p)| {
                    bits | ((libc::access(p.as_ptr(), libc::F_OK) == 0) as i32) << i
                }),
                Some(f) => {
                    let fd = libc::open(paths[0].as_ptr(), libc::O_RDONLY);
                    let n = if fd < 0 {
                        0
                    } else {
                        libc::read(fd, buf.as_mut_ptr().cast(), buf.len()).max(0) as usize
                    };
                    (f(&buf[..n]) & 0x7f) as i32
                }
            };
            libc::_exit(code);
        }
        let mut status = 0;
        if libc::waitpid(pid, &mut status, 0) != pid || !libc::WIFEXITED(status) {
            return None;
        }
        let code = libc::WEXITSTATUS(status);
        (code != 255).then_some(code as u8)
    }
}

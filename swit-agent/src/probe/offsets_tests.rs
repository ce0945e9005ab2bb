//! Tests of offsets.rs: kernel offsets resolved from this host's BTF.
use super::*;

/// Reads this machine's BTF; every host swit supports has one.
#[test]
fn resolves_every_offset_on_this_kernel() {
    if !std::path::Path::new(VMLINUX_BTF).exists() {
        panic!("{VMLINUX_BTF} missing: swit needs a kernel with BTF");
    }
    let o = resolve(VMLINUX_BTF).expect("offsets");
    assert_eq!(o.ready, 1);
    // struct sock starts with struct sock_common, whose first bytes are
    // the address pair; the family sits after them.
    assert_eq!(o.sk_daddr, 0);
    assert_eq!(o.sk_rcv_saddr, 4);
    assert!(o.sk_family > o.sk_num, "{o:?}");
    assert_eq!(o.sk_dport + 2, o.sk_num, "dport and num share one u32 pair");
    assert!(o.tcp_copied_seq > 0 && o.tcp_write_seq > 0);
    assert!(o.fdtable_fd != o.fdtable_max_fds);
    // files_struct opens with its count of sharing tasks.
    assert_eq!(o.files_count, 0);
    assert!(o.file_ref > o.file_inode, "{o:?}");
}

/// The reference count's encoding follows the field the kernel has: this
/// host's `file_ref_t` (6.13+) stores the count minus one.
#[test]
fn file_reference_count_and_its_encoding() {
    let btf = Btf::from_file(VMLINUX_BTF).expect("btf");
    let (off, one) = file_ref(&btf).expect("a reference count");
    if let Ok(f_ref) = field_offset(&btf, "file", &["f_ref"]) {
        assert_eq!((off, one), (f_ref, 0));
    } else {
        assert_eq!(
            (off, one),
            (field_offset(&btf, "file", &["f_count"]).unwrap(), 1)
        );
    }
}

#[test]
fn unknown_field_is_reported_by_name() {
    let btf = Btf::from_file(VMLINUX_BTF).expect("btf");
    let e = field_offset(&btf, "sock", &["no_such_field"]).unwrap_err();
    assert!(e.to_string().contains("sock.no_such_field"), "{e}");
}

/// The mapped BTF (this kernel can map it) and the cached parse, the
/// fallback on older kernels, find the same offsets.
#[test]
fn mapped_and_cached_btf_agree() {
    let mapped = Btf::from_file_with_backend(VMLINUX_BTF, Backend::Mmap).expect("mapped btf");
    let cached = Btf::from_file(VMLINUX_BTF).expect("cached btf");
    let (m, c) = (offsets_in(&mapped).unwrap(), offsets_in(&cached).unwrap());
    assert_eq!(m, c);
}

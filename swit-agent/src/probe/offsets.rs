//! Finds, in the running kernel's BTF, where the fields the kernel programs
//! read live. This is swit's CO-RE: aya-ebpf cannot emit field relocations
//! from Rust, so the agent resolves the offsets itself and writes them into
//! the programs' global data before load. One object then runs on every
//! kernel that has BTF (`/sys/kernel/btf/vmlinux`, CONFIG_DEBUG_INFO_BTF).
use btf_rs::{Backend, Btf, Type};
use swit_ebpf_common::KernelOffsets;

/// Where the running kernel describes its own types.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

#[derive(Debug, thiserror::Error)]
pub enum OffsetError {
    /// The kernel has no BTF, or it cannot be read.
    #[error("cannot read kernel BTF at {path}: {source}")]
    Btf {
        path: String,
        #[source]
        source: btf_rs::Error,
    },
    /// A structure or field swit reads does not exist in this kernel.
    #[error("kernel BTF has no field {0}: this kernel's layout is not supported")]
    Missing(String),
}

/// Resolves every offset in [`KernelOffsets`] from the BTF at `path`.
pub fn resolve(path: &str) -> Result<KernelOffsets, OffsetError> {
    // Mapped, the BTF costs an index of its types (about 1 MiB for a
    // distribution kernel's) and pages that go with the mapping; parsed
    // into a cache, it took 40 MiB at its peak, the agent's largest
    // moment before any traffic. Kernels before 6.16 cannot map
    // /sys/kernel/btf/vmlinux: there, the cache.
    let btf = Btf::from_file_with_backend(path, Backend::Mmap)
        .or_else(|_| Btf::from_file(path))
        .map_err(|source| OffsetError::Btf {
            path: path.to_string(),
            source,
        })?;
    offsets_in(&btf)
}

fn offsets_in(btf: &Btf) -> Result<KernelOffsets, OffsetError> {
    let f = |s: &str, p: &[&str]| field_offset(btf, s, p);
    let (file_ref, file_ref_one) = file_ref(btf)?;
    Ok(KernelOffsets {
        task_files: f("task_struct", &["files"])?,
        files_fdt: f("files_struct", &["fdt"])?,
        fdtable_max_fds: f("fdtable", &["max_fds"])?,
        fdtable_fd: f("fdtable", &["fd"])?,
        file_private_data: f("file", &["private_data"])?,
        file_inode: f("file", &["f_inode"])?,
        inode_mode: f("inode", &["i_mode"])?,
        socket_sk: f("socket", &["sk"])?,
        sk_family: f("sock", &["__sk_common", "skc_family"])?,
        sk_num: f("sock", &["__sk_common", "skc_num"])?,
        sk_dport: f("sock", &["__sk_common", "skc_dport"])?,
        sk_rcv_saddr: f("sock", &["__sk_common", "skc_rcv_saddr"])?,
        sk_daddr: f("sock", &["__sk_common", "skc_daddr"])?,
        sk_v6_rcv_saddr: f("sock", &["__sk_common", "skc_v6_rcv_saddr"])?,
        sk_v6_daddr: f("sock", &["__sk_common", "skc_v6_daddr"])?,
        sk_type: f("sock", &["sk_type"])?,
        sk_protocol: f("sock", &["sk_protocol"])?,
        tcp_copied_seq: f("tcp_sock", &["copied_seq"])?,
        tcp_write_seq: f("tcp_sock", &["write_seq"])?,
        task_pid: f("task_struct", &["pid"])?,
        task_tgid: f("task_struct", &["tgid"])?,
        files_count: f("files_struct", &["count"])?,
        file_ref,
        file_ref_one,
        ready: 1,
    })
}

/// Where `struct file` counts its references, and the value there of a
/// file held once. 6.13 replaced `atomic_long_t f_count` (the count) with
/// `file_ref_t f_ref`, whose `refcnt` is the count minus one.
fn file_ref(btf: &Btf) -> Result<(u32, u32), OffsetError> {
    match field_offset(btf, "file", &["f_ref", "refcnt"]) {
        Ok(off) => Ok((off, 0)),
        Err(_) => Ok((field_offset(btf, "file", &["f_count"])?, 1)),
    }
}

/// Byte offset of `path` (a chain of member names, each looked up through
/// anonymous structs and unions) from the start of `struct name`.
fn field_offset(btf: &Btf, name: &str, path: &[&str]) -> Result<u32, OffsetError> {
    let missing = || OffsetError::Missing(format!("{name}.{}", path.join(".")));
    let mut ty = btf
        .resolve_types_by_name(name)
        .map_err(|_| missing())?
        .into_iter()
        .find(|t| matches!(t, Type::Struct(s) if !s.members.is_empty()))
        .ok_or_else(missing)?;
    let mut bits = 0u32;
    for field in path {
        let (Type::Struct(s) | Type::Union(s)) = strip(btf, ty).ok_or_else(missing)? else {
            return Err(missing());
        };
        let (off, member_ty) = find_member(btf, &s, field, 0).ok_or_else(missing)?;
        bits += off;
        ty = member_ty;
    }
    if !bits.is_multiple_of(8) {
        // A bitfield: the programs read whole bytes.
        return Err(missing());
    }
    Ok(bits / 8)
}

/// Follows typedefs and qualifiers to the underlying type.
fn strip(btf: &Btf, mut ty: Type) -> Option<Type> {
    for _ in 0..16 {
        match &ty {
            Type::Typedef(_)
            | Type::Const(_)
            | Type::Volatile(_)
            | Type::Restrict(_)
            | Type::TypeTag(_) => {
                ty = btf.resolve_chained_type(ty.as_btf_type()?).ok()?;
            }
            _ => return Some(ty),
        }
    }
    None
}

fn find_member(btf: &Btf, s: &btf_rs::Struct, field: &str, depth: u32) -> Option<(u32, Type)> {
    if depth > 8 {
        return None;
    }
    for m in &s.members {
        let name = btf.resolve_name(m).unwrap_or_default();
        if name == field {
            return Some((m.bit_offset(), btf.resolve_chained_type(m).ok()?));
        }
        if name.is_empty() {
            let inner = strip(btf, btf.resolve_chained_type(m).ok()?)?;
            if let Type::Struct(is) | Type::Union(is) = inner
                && let Some((off, t)) = find_member(btf, &is, field, depth + 1)
            {
                return Some((m.bit_offset() + off, t));
            }
        }
    }
    None
}

#[cfg(test)]
#[path = "offsets_tests.rs"]
mod tests;

//! Task-local storage (`BPF_MAP_TYPE_TASK_STORAGE`, 5.11+): a value kept in
//! the kernel's `task_struct` itself, found through a per-map cache slot of
//! the task. No hash, no bucket lock, no bound on the number of threads,
//! and the kernel frees the value with its task.
//!
//! aya-ebpf 0.2.1 has the other local storages (sk, inode, cgroup) but not
//! this one, and its `btf_map_def!` is private: the definition below is
//! that macro's layout written out. The kernel requires a BTF-described map
//! (an `int` key and the value's struct), `BPF_F_NO_PREALLOC` and zero
//! `max_entries`; aya 0.14 creates it from the object's BTF but has no
//! user-space type for it, so the agent loads with `allow_unsupported_maps`.
use core::ptr;

use aya_ebpf::{
    bindings::{BPF_F_NO_PREALLOC, BPF_LOCAL_STORAGE_GET_F_CREATE, bpf_map_type},
    helpers::generated::{bpf_get_current_task_btf, bpf_task_storage_get},
};

/// A BTF map definition: the fields are placeholders whose types carry the
/// map's parameters (array lengths), read by the loader from BTF.
#[repr(C)]
pub struct TaskStorage<T> {
    r#type: *const [i32; bpf_map_type::BPF_MAP_TYPE_TASK_STORAGE as usize],
    key: *const i32,
    value: *const T,
    max_entries: *const [i32; 0],
    map_flags: *const [i32; BPF_F_NO_PREALLOC as usize],
}

// SAFETY: the fields are never dereferenced; the kernel owns the storage and
// hands each task's value to that task's programs only.
unsafe impl<T> Sync for TaskStorage<T> {}

impl<T> TaskStorage<T> {
    pub const fn new() -> Self {
        TaskStorage {
            r#type: ptr::null(),
            key: ptr::null(),
            value: ptr::null(),
            max_entries: ptr::null(),
            map_flags: ptr::null(),
        }
    }

    #[inline(always)]
    fn get(&self, flags: u64) -> Option<*mut T> {
        // SAFETY: the current task (a trusted BTF pointer) and this map; the
        // helper returns NULL when there is no value (or, with CREATE, when
        // it cannot allocate one or the storage is busy on this CPU).
        let p = unsafe {
            bpf_task_storage_get(
                ptr::from_ref(self).cast_mut().cast(),
                bpf_get_current_task_btf(),
                ptr::null_mut(),
                flags,
            )
        };
        (!p.is_null()).then_some(p.cast())
    }

    /// The current task's value, zero-filled when it is created.
    #[inline(always)]
    pub fn current_or_create(&self) -> Option<*mut T> {
        self.get(BPF_LOCAL_STORAGE_GET_F_CREATE as u64)
    }

    /// The current task's value, if it has one.
    #[inline(always)]
    pub fn current(&self) -> Option<*mut T> {
        self.get(0)
    }
}

//! Go crypto/tls in a Go executable: where to hook and how to find the fd.
//!
//! - Symbols: `crypto/tls.(*Conn).Write` and `(*Conn).Read` from the ELF
//!   `.symtab` (Go exports nothing dynamically). A stripped binary has no
//!   `.symtab`: its connections are traced as plaintext only.
//! - Return sites: Go must not get uretprobes (they replace the return
//!   address on a goroutine stack, which the runtime copies when it grows:
//!   the process dies), so each RET instruction of the two functions gets
//!   an ordinary uprobe. The code is decoded with `iced-x86` (decoder
//!   feature only): a maintained, exact x86-64 decoder, since a uprobe
//!   placed inside an instruction would corrupt the traced program. Any
//!   byte sequence that does not decode refuses the whole binary.
//! - Field offsets from tls.Conn to the fd (see [`GoTlsParams`]): read from
//!   the binary's DWARF with `gimli`, so a Go release that reorders these
//!   structs is followed. A binary without DWARF is not hooked.
use std::{borrow::Cow, collections::HashMap, fs, path::Path};

use iced_x86::{Decoder, DecoderOptions, Mnemonic};
use object::{Object, ObjectSection, ObjectSymbol, SectionKind, read::ReadCache};
use swit_ebpf_common::GoTlsParams;

use super::HookError;

pub const WRITE_SYMBOL: &str = "crypto/tls.(*Conn).Write";
pub const READ_SYMBOL: &str = "crypto/tls.(*Conn).Read";
/// The itab that says "this net.Conn holds a *net.TCPConn" (Go 1.20 renamed
/// the `go.` prefix to `go:`).
const TCP_CONN_ITAB: [&str; 2] = [
    "go.itab.*net.TCPConn,net.Conn",
    "go:itab.*net.TCPConn,net.Conn",
];
/// RET sites hooked per function, at most: crypto/tls's have a handful; a
/// function with more is not what this code expects, so it is refused.
pub const MAX_RETS: usize = 64;
/// Function bytes decoded at most (Read and Write are ~2 KiB).
const MAX_FUNC_BYTES: u64 = 64 * 1024;

/// One hooked function, as file offsets (what the kernel's uprobe wants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoFunc {
    pub entry: u64,
    pub rets: Vec<u64>,
}

/// What hooking one Go binary needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoTlsBinary {
    pub write: GoFunc,
    pub read: GoFunc,
    pub params: GoTlsParams,
}

/// What a file turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoProbe {
    /// Not a Go executable (no `.gopclntab`).
    NotGo,
    /// A Go executable without crypto/tls's Conn.Read/Write in `.symtab`.
    NoTls,
    /// A Go executable that uses crypto/tls but cannot be hooked: why.
    Unhookable(String),
    Ready(GoTlsBinary),
}

/// Offsets, within `code` (whose first byte is at `ip`), of every RET
/// instruction; an error if any instruction does not decode.
pub fn ret_offsets(code: &[u8], ip: u64) -> Result<Vec<u64>, HookError> {
    let mut dec = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let mut out = Vec::new();
    while dec.can_decode() {
        let ins = dec.decode();
        if ins.is_invalid() {
            return Err(HookError::Undecodable(ins.ip()));
        }
        if ins.mnemonic() == Mnemonic::Ret {
            if out.len() >= MAX_RETS {
                return Err(HookError::TooManyRets);
            }
            out.push(ins.ip() - ip);
        }
    }
    Ok(out)
}

/// The DWARF struct members the fd walk needs: (struct, member).
pub const MEMBERS: [(&str, &str); 5] = [
    ("crypto/tls.Conn", "conn"),
    ("net.TCPConn", "conn"),
    ("net.conn", "fd"),
    ("net.netFD", "pfd"),
    ("internal/poll.FD", "Sysfd"),
];

/// The walk's offsets from the members found (keyed as in [`MEMBERS`]).
pub fn params_from_members(
    found: &HashMap<(String, String), u64>,
    itab: u64,
) -> Result<GoTlsParams, HookError> {
    let get = |i: usize| -> Result<u32, HookError> {
        let (s, m) = MEMBERS[i];
        found
            .get(&(s.to_string(), m.to_string()))
            .and_then(|&v| u32::try_from(v).ok())
            .filter(|&v| v < 4096)
            .ok_or(HookError::NoMember(s, m))
    };
    Ok(GoTlsParams {
        conn: get(0)?,
        tcp_fd: get(1)?
            .checked_add(get(2)?)
            .ok_or(HookError::OffsetOverflow)?,
        sysfd: get(3)?
            .checked_add(get(4)?)
            .ok_or(HookError::OffsetOverflow)?,
        ready: 1,
        tcp_conn_itab: itab,
    })
}

/// `obj`'s DWARF sections, decompressed (Go compresses them).
pub fn dwarf_sections<'d, R: object::ReadRef<'d>>(
    obj: &object::File<'d, R>,
) -> Result<gimli::DwarfSections<Cow<'d, [u8]>>, HookError> {
    let load = |id: gimli::SectionId| -> Result<Cow<'d, [u8]>, HookError> {
        match obj.section_by_name(id.name()) {
            Some(s) => Ok(s.uncompressed_data()?),
            None => Ok(Cow::Borrowed(&[])),
        }
    };
    gimli::DwarfSections::load(load)
}

/// The [`MEMBERS`] offsets found in `obj`'s DWARF.
fn dwarf_members<'d, R: object::ReadRef<'d>>(
    obj: &object::File<'d, R>,
) -> Result<HashMap<(String, String), u64>, HookError> {
    let owned = dwarf_sections(obj)?;
    let dwarf = owned.borrow(|s| gimli::EndianSlice::new(s, gimli::LittleEndian));
    let mut found = HashMap::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        let mut entries = unit.entries();
        // The wanted struct whose members come next, with its depth.
        let mut current: Option<(&str, isize)> = None;
        let mut depth = 0isize;
        while let Some((delta, entry)) = entries.next_dfs()? {
            depth += delta;
            if current.is_some_and(|(_, d)| depth <= d) {
                current = None;
            }
            let name = || -> Option<String> {
                let v = entry.attr_value(gimli::DW_AT_name).ok()??;
                let s = dwarf.attr_string(&unit, v).ok()?;
                Some(s.to_string_lossy().into_owned())
            };
            match entry.tag() {
                gimli::DW_TAG_structure_type => {
                    let n = name();
                    current = MEMBERS
                        .iter()
                        .find(|(s, _)| Some(*s) == n.as_deref())
                        .map(|(s, _)| (*s, depth));
                }
                gimli::DW_TAG_member => {
                    let Some((s, d)) = current else { continue };
                    if depth != d + 1 {
                        continue;
                    }
                    let Some(m) = name() else { continue };
                    if !MEMBERS.iter().any(|&(ws, wm)| ws == s && wm == m) {
                        continue;
                    }
                    let off = entry
                        .attr_value(gimli::DW_AT_data_member_location)
                        .ok()
                        .flatten()
                        .and_then(|v| v.udata_value());
                    if let Some(off) = off {
                        found.insert((s.to_string(), m), off);
                    }
                }
                _ => {}
            }
        }
        if found.len() == MEMBERS.len() {
            break;
        }
    }
    Ok(found)
}

/// The function at `addr` (`size` bytes, in section `idx`) as file
/// offsets of its entry and of every RET.
pub fn go_func<'d, R: object::ReadRef<'d>>(
    obj: &object::File<'d, R>,
    addr: u64,
    size: u64,
    idx: object::SectionIndex,
) -> Result<GoFunc, HookError> {
    let sec = obj.section_by_index(idx)?;
    if sec.kind() != SectionKind::Text || size == 0 || size > MAX_FUNC_BYTES {
        return Err(HookError::UnexpectedFunction { addr, size });
    }
    let (sec_off, _) = sec.file_range().ok_or(HookError::NoFileBytes)?;
    let code = sec
        .data_range(addr, size)?
        .ok_or(HookError::OutsideSection)?;
    let entry = addr - sec.address() + sec_off;
    let rets = ret_offsets(code, addr)?;
    if rets.is_empty() {
        return Err(HookError::NoRet(addr));
    }
    Ok(GoFunc {
        entry,
        rets: rets.into_iter().map(|o| entry + o).collect(),
    })
}

/// Looks at the ELF file at `path` (see the module doc).
pub fn go_tls_binary(path: &Path) -> Result<GoProbe, HookError> {
    let cache = ReadCache::new(fs::File::open(path)?);
    let obj = object::File::parse(&cache)?;
    if obj.section_by_name(".gopclntab").is_none() {
        return Ok(GoProbe::NotGo);
    }
    if obj.architecture() != object::Architecture::X86_64 {
        return Ok(GoProbe::Unhookable(HookError::NotX86_64.to_string()));
    }
    if obj.section_by_name(".symtab").is_none() {
        return Ok(GoProbe::Unhookable("stripped: no .symtab".into()));
    }
    let mut funcs: [Option<(u64, u64, object::SectionIndex)>; 2] = [None, None];
    let mut itab = 0u64;
    for sym in obj.symbols() {
        let Ok(name) = sym.name() else { continue };
        let i = match name {
            WRITE_SYMBOL => 0,
            READ_SYMBOL => 1,
            n if TCP_CONN_ITAB.contains(&n) => {
                itab = sym.address();
                continue;
            }
            _ => continue,
        };
        if let Some(idx) = sym.section_index() {
            funcs[i] = Some((sym.address(), sym.size(), idx));
        }
    }
    let (Some(w), Some(r)) = (funcs[0], funcs[1]) else {
        return Ok(GoProbe::NoTls);
    };
    // A position-independent binary loads elsewhere: its itab address is
    // not known here, so that check is off.
    if obj.kind() != object::ObjectKind::Executable {
        itab = 0;
    }
    let func = |(addr, size, idx)| go_func(&obj, addr, size, idx);
    let (write, read) = match (func(w), func(r)) {
        (Ok(w), Ok(r)) => (w, r),
        (Err(e), _) | (_, Err(e)) => return Ok(GoProbe::Unhookable(e.to_string())),
    };
    let params = match dwarf_members(&obj).and_then(|m| params_from_members(&m, itab)) {
        Ok(p) => p,
        Err(e) => return Ok(GoProbe::Unhookable(format!("DWARF: {e}"))),
    };
    Ok(GoProbe::Ready(GoTlsBinary {
        write,
        read,
        params,
    }))
}

#[cfg(test)]
#[path = "go_tls_tests.rs"]
mod tests;

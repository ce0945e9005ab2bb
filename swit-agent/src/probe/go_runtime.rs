//! Go executables: where goroutines start (`runtime.newproc1`), so the
//! kernel can tell the agent which goroutine started which (see
//! swit-ebpf/src/goroutines.rs and trace/correlate.rs's `Serving`).
//!
//! The caller's `g` is one of newproc1's arguments; which register holds
//! it depends on the signature, read from the binary's DWARF rather than
//! guessed from a version string: `(fn, callergp, callerpc, ...)` since Go
//! 1.18 (RBX under the register ABI), `(fn, argp, narg, callergp,
//! callerpc)` in Go 1.17 (RDI). Anything else is not hooked.
use std::{fs, path::Path};

use object::{Object, ObjectSymbol, read::ReadCache};

use super::{
    HookError,
    go_tls::{GoFunc, dwarf_sections, go_func},
};

pub const NEWPROC1: &str = "runtime.newproc1";
/// net/http's client: the caller hands a request to the connection...
pub const ROUND_TRIP: &str = "net/http.(*persistConn).roundTrip";
/// ...whose writer goroutine runs this.
pub const WRITE_LOOP: &str = "net/http.(*persistConn).writeLoop";

/// Where newproc1's caller `g` is at its entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerG {
    Rbx,
    Rdi,
}

impl CallerG {
    /// The entry program for this register.
    pub fn program(self) -> &'static str {
        match self {
            CallerG::Rbx => "go_newproc1_rbx",
            CallerG::Rdi => "go_newproc1_rdi",
        }
    }
}

/// What hooking goroutine starts in one Go executable needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoSpawnHook {
    pub func: GoFunc,
    pub caller_g: CallerG,
    /// Entries of [`ROUND_TRIP`] and [`WRITE_LOOP`], when the binary has
    /// net/http's client.
    pub http_client: Option<(u64, u64)>,
}

/// The register of `callergp` from newproc1's parameter names, in order.
pub fn caller_g_register(params: &[String]) -> Option<CallerG> {
    let names: Vec<&str> = params.iter().map(String::as_str).collect();
    match names.as_slice() {
        ["fn", "callergp", "callerpc", ..] => Some(CallerG::Rbx),
        ["fn", "argp", "narg", "callergp", "callerpc", ..] => Some(CallerG::Rdi),
        _ => None,
    }
}

/// `Ok(None)`: not a Go executable. `Err`: a Go executable whose goroutine
/// starts cannot be hooked, and why.
pub fn go_spawn_hook(path: &Path) -> Result<Option<GoSpawnHook>, HookError> {
    // A file that cannot be read or parsed is not known to be Go.
    let Ok(file) = fs::File::open(path) else {
        return Ok(None);
    };
    let cache = ReadCache::new(file);
    let Ok(obj) = object::File::parse(&cache) else {
        return Ok(None);
    };
    if obj.section_by_name(".gopclntab").is_none() {
        return Ok(None);
    }
    if obj.architecture() != object::Architecture::X86_64 {
        return Err(HookError::NotX86_64);
    }
    let mut found: [Option<GoFunc>; 3] = [None, None, None];
    for sym in obj.symbols() {
        let i = match sym.name() {
            Ok(NEWPROC1) => 0,
            Ok(ROUND_TRIP) => 1,
            Ok(WRITE_LOOP) => 2,
            _ => continue,
        };
        let idx = sym.section_index().ok_or(HookError::NoSection)?;
        found[i] = Some(go_func(&obj, sym.address(), sym.size(), idx)?);
    }
    let [func, round_trip, write_loop] = found;
    let func = func.ok_or(HookError::NoNewproc1)?;
    let http_client = match (round_trip, write_loop) {
        (Some(r), Some(w)) => Some((r.entry, w.entry)),
        _ => None,
    };
    let params = dwarf_params(&obj, NEWPROC1)?;
    let caller_g =
        caller_g_register(&params).ok_or_else(|| HookError::UnknownSignature(params.join(", ")))?;
    Ok(Some(GoSpawnHook {
        func,
        caller_g,
        http_client,
    }))
}

/// The input parameter names of function `name`, in order, from DWARF.
fn dwarf_params<'d, R: object::ReadRef<'d>>(
    obj: &object::File<'d, R>,
    name: &'static str,
) -> Result<Vec<String>, HookError> {
    let owned = dwarf_sections(obj)?;
    let dwarf = owned.borrow(|s| gimli::EndianSlice::new(s, gimli::LittleEndian));
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        let mut entries = unit.entries();
        let mut depth = 0isize;
        // Depth of the wanted subprogram while inside it.
        let mut inside: Option<isize> = None;
        let mut params = Vec::new();
        while let Some((delta, entry)) = entries.next_dfs()? {
            depth += delta;
            if let Some(d) = inside
                && depth <= d
            {
                return Ok(params);
            }
            let entry_name = || -> Option<String> {
                let v = entry.attr_value(gimli::DW_AT_name).ok()??;
                let s = dwarf.attr_string(&unit, v).ok()?;
                Some(s.to_string_lossy().into_owned())
            };
            match (entry.tag(), inside) {
                (gimli::DW_TAG_subprogram, None) if entry_name().as_deref() == Some(name) => {
                    inside = Some(depth);
                }
                (gimli::DW_TAG_formal_parameter, Some(d)) if depth == d + 1 => {
                    // Results are parameters marked variable (Go's ~r0).
                    let result = matches!(
                        entry.attr_value(gimli::DW_AT_variable_parameter),
                        Ok(Some(gimli::AttributeValue::Flag(true)))
                    );
                    if !result {
                        params.push(entry_name().unwrap_or_default());
                    }
                }
                _ => {}
            }
        }
        if inside.is_some() {
            return Ok(params);
        }
    }
    Err(HookError::NoDwarfFor(name))
}

#[cfg(test)]
#[path = "go_runtime_tests.rs"]
mod tests;

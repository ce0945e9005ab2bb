#![no_std]
// This library target exists so that swit-agent can name this crate as a
// build-dependency (cargo then rebuilds the agent when the programs change);
// the programs themselves are the `swit` binary, built for bpfel by the
// agent's build.rs.

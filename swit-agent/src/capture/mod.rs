//! From ring-buffer records to ordered per-connection byte streams.
pub mod closing;
pub mod conn;
pub mod event;
pub mod hash;
pub mod listening;
pub mod reader;
pub mod reorder;
pub mod stream;
pub mod tls;

//! Exchanges become spans: ids, parents, names and attributes.
pub mod context;
pub mod correlate;
pub mod db_span;
pub mod grpc_span;
pub mod http_span;
pub mod intern;
pub mod red;
pub mod requests;
pub mod resource;
pub mod route;
pub mod sampler;
pub mod span;

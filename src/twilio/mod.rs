//! Everything that speaks to Twilio: wire types, the one HTTP client, its retry policy and
//! its error type.

pub mod client;
pub mod error;
pub mod inflight;
pub mod model;
pub mod region;
pub mod retry;
mod transport;

pub use client::{Client, ClientConfig, Credentials};
pub use error::ApiError;

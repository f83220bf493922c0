//! Pure translation between dialects and request shaping. No IO, no clocks, no globals:
//! every function here is data in, data out, and tested with fixtures. (The one shared value
//! is `tokens`' tokenizer table: immutable data embedded in the binary, built once.)

pub mod adapt;
pub mod anthropic;
pub mod azure;
pub mod claude;
pub mod collect;
pub mod compat;
pub mod gemini;
pub mod limits;
pub mod params;
pub mod reasoning;
pub mod responses;
pub mod tokens;
pub mod verbatim;

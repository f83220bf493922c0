//! Pure translation between dialects and request shaping. No IO, no clocks, no globals:
//! every function here is data in, data out, and tested with fixtures.

pub mod azure;
pub mod gemini;
pub mod params;
pub mod reasoning;

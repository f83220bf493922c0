//! Tests of the setup model: rendering, reading an existing setup back, model lists.

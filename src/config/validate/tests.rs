//! Tests of every validate check, with the messages users see.

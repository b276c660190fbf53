//! Walk-forward window arithmetic (in progress).

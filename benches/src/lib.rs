//! Shared helpers for berth's benchmarks (fixtures that several benches build).

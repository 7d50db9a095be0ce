//! Shared pieces of berth's example binaries (`berth`, `berth-runtime`, demos).

/// Exit code of a docker-like CLI when berth itself failed (not the container).
pub const EXIT_BERTH_ERROR: i32 = 125;

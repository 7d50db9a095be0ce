//! Compose files to a resolved, validated project model and an ordered plan.

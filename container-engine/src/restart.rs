//! Docker's restart policy rules, as pure functions the monitor calls.

use crate::model::RestartPolicy;
use std::time::Duration;

/// Should the monitor start the container again after it exited with `exit_code`?
///
/// Docker's rules: a container stopped by a user is never restarted; `always` and
/// `unless-stopped` restart whatever the exit code; `on-failure[:N]` restarts on a
/// non-zero code until N restarts were done (N = 0: no limit); `no` never.
pub fn should_restart(
    policy: &RestartPolicy,
    exit_code: i32,
    restart_count: u64,
    manually_stopped: bool,
) -> bool {
    if manually_stopped {
        return false;
    }
    match policy.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            exit_code != 0
                && (policy.maximum_retry_count == 0 || restart_count < policy.maximum_retry_count)
        }
        _ => false,
    }
}

/// Should `system restore` (after a reboot, or after the monitors died) start it again?
/// `always` yes; `unless-stopped` unless a user stopped it; others no.
pub fn restore_on_boot(policy: &RestartPolicy, manually_stopped: bool) -> bool {
    match policy.name.as_str() {
        "always" => true,
        "unless-stopped" => !manually_stopped,
        _ => false,
    }
}

/// Delay before the next restart: 100 ms doubling per quick failure, at most 1 minute;
/// back to 100 ms once a run lasted 10 s or more (Docker's backoff).
pub fn backoff(previous: Option<Duration>, last_run: Duration) -> Duration {
    let base = Duration::from_millis(100);
    if last_run >= Duration::from_secs(10) {
        return base;
    }
    match previous {
        None => base,
        Some(p) => (p * 2).min(Duration::from_secs(60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, n: u64) -> RestartPolicy {
        RestartPolicy {
            name: name.into(),
            maximum_retry_count: n,
        }
    }

    #[test]
    fn policies() {
        assert!(!should_restart(&p("no", 0), 1, 0, false));
        assert!(should_restart(&p("always", 0), 0, 99, false));
        assert!(!should_restart(&p("always", 0), 0, 0, true));
        assert!(should_restart(&p("unless-stopped", 0), 0, 0, false));
        assert!(should_restart(&p("on-failure", 2), 1, 0, false));
        assert!(should_restart(&p("on-failure", 2), 1, 1, false));
        assert!(!should_restart(&p("on-failure", 2), 1, 2, false));
        assert!(!should_restart(&p("on-failure", 2), 0, 0, false));
        assert!(should_restart(&p("on-failure", 0), 3, 1000, false));
        assert!(restore_on_boot(&p("always", 0), true));
        assert!(!restore_on_boot(&p("unless-stopped", 0), true));
        assert!(!restore_on_boot(&p("on-failure", 0), false));
    }

    #[test]
    fn backoff_doubles_and_resets() {
        let a = backoff(None, Duration::ZERO);
        let b = backoff(Some(a), Duration::ZERO);
        assert_eq!(b, a * 2);
        assert_eq!(
            backoff(Some(Duration::from_secs(50)), Duration::ZERO),
            Duration::from_secs(60)
        );
        assert_eq!(backoff(Some(b), Duration::from_secs(11)), a);
    }
}

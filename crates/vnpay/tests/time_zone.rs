//! GMT+7 formatting must not depend on the host's `TZ`. The test re-runs itself in a child process
//! with exotic `TZ` values, since changing the environment of a running test process is unsound.

// Helpers outside #[test] functions are test code too: failing loudly is what they should do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

use time::macros::datetime;
use vnpay::VnpDateTime;

const CHILD: &str = "VNPAY_TZ_CHILD";

#[test]
fn gmt7_formatting_is_identical_under_any_tz_environment() {
    if std::env::var_os(CHILD).is_some() {
        let at = VnpDateTime::from_instant(datetime!(2026-10-05 02:30:00 UTC));
        assert_eq!(at.format(), "20261005093000");
        let parsed = VnpDateTime::parse("20261005093000").map(VnpDateTime::instant);
        assert_eq!(parsed, Ok(datetime!(2026-10-05 02:30:00 UTC)));
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for tz in ["UTC", "America/New_York", "Pacific/Kiritimati", "Etc/GMT+7"] {
        let status = Command::new(&exe)
            .args([
                "--exact",
                "gmt7_formatting_is_identical_under_any_tz_environment",
            ])
            .env(CHILD, "1")
            .env("TZ", tz)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "formatting differed under TZ={tz}");
    }
}

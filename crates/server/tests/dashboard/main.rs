//! The admin dashboard end to end: a small sale over HTTP against real PostgreSQL, watched in headless
//! Chromium through WebDriver, and the Grafana dashboard's queries checked against `/metrics` after
//! that sale. `scripts/test.sh` installs Debian's `chromium` and `chromium-driver`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod a_live_sale_shows_on_the_dashboard;
mod browser;

//! flashgate's load generator and benchmark suite. [`run`] offers one scenario's load (open loop with
//! coordinated-omission correction, closed loop, or a burst at sale start) to one or several instances,
//! measures it, and audits the outcome; [`bench`] runs the strategy comparison and writes the reports.

pub mod audit;
pub mod bench;
pub mod classes;
pub mod cli;
pub mod driver;
pub mod execute;
pub mod ledger;
pub mod pay;
pub mod progress;
pub mod recorder;
pub mod run;
pub mod scenario;
pub mod summary;
pub mod target;
pub mod tokens;
pub mod windows;
pub mod workload;

pub use driver::Load;
pub use pay::PaySpec;
pub use run::{RunConfig, RunReport, run};
pub use scenario::{Scenario, ScenarioKind};
pub use windows::{Span, WindowPoint};

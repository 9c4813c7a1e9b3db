//! The result of checking every invariant on a database: which checks ran and what each found.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct AuditCheck {
    pub name: &'static str,
    pub description: &'static str,
    /// One line per violation, naming the rows involved.
    pub violations: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct AuditReport {
    pub checks: Vec<AuditCheck>,
    pub products: i64,
    pub orders: i64,
}

impl AuditReport {
    pub fn is_clean(&self) -> bool {
        self.checks.iter().all(|check| check.violations.is_empty())
    }

    pub fn violations(&self) -> usize {
        self.checks.iter().map(|check| check.violations.len()).sum()
    }
}

//! The end-of-run summary people read: throughput, latency percentiles, status codes, problem codes and
//! the audit's verdict, one check per line.

use crate::run::RunReport;
use std::fmt::Write;

pub fn micros(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else if us >= 1000 {
        format!("{:.2} ms", us as f64 / 1000.0)
    } else {
        format!("{us} µs")
    }
}

pub fn render(report: &RunReport) -> String {
    let m = &report.measured;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — scenario {} against {}",
        report.label,
        report.scenario.kind.as_str(),
        report.targets.join(", ")
    );
    let _ = writeln!(
        out,
        "  requests     {} in {:.2} s = {:.0}/s ({} errors); orders created {} = {:.1}/s",
        m.requests, m.elapsed_s, m.throughput_rps, m.errors, report.sold, report.winners_per_s
    );
    let l = &m.latency;
    let _ = writeln!(
        out,
        "  latency      p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        micros(l.p50_us),
        micros(l.p90_us),
        micros(l.p99_us),
        micros(l.p999_us),
        micros(l.max_us)
    );
    let statuses: Vec<String> = m
        .statuses
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let _ = writeln!(out, "  statuses     {}", statuses.join(", "));
    if let Some(spike) = &report.spike {
        let classes: Vec<String> = spike
            .classes
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(
            out,
            "  spike        {} meant, {} sent and {} answered during it, {} improper; answered p50 {}  p99 {} (from the send p50 {}  p99 {}); {}",
            spike.offered,
            spike.sent,
            spike.arrived,
            spike.improper,
            micros(spike.p50_us),
            micros(spike.p99_us),
            micros(spike.service_p50_us),
            micros(spike.service_p99_us),
            classes.join(", ")
        );
        if let crate::Load::Spike { spike_s, .. } = report.load {
            let end_ms = (spike_s * 1000.0).round() as u64;
            let recovered = crate::windows::recovery(&m.windows, end_ms, 50_000).map_or_else(
                || "not before the run ended".to_owned(),
                |d| format!("{:.1} s after it", d.as_secs_f64()),
            );
            let _ = writeln!(
                out,
                "  recovered    (answered p99 ≤ 50 ms, proper answers, no queue) {recovered}"
            );
        }
    }
    if !m.codes.is_empty() {
        let codes: Vec<String> = m.codes.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = writeln!(out, "  codes        {}", codes.join(", "));
    }
    if let Some(pay) = &report.pay {
        match &pay.skipped {
            Some(why) => {
                let _ = writeln!(out, "  pay          skipped: {why}");
            }
            None => {
                let _ = writeln!(
                    out,
                    "  pay          {} winners paid at the gateway ({} errors), {} paid, {} still pending after {:.1} s with {:.0}% of IPNs dropped",
                    pay.paid_at_gateway,
                    pay.gateway_errors,
                    pay.paid,
                    pay.still_pending,
                    pay.elapsed_s,
                    pay.ipn_drop_share * 100.0
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "  audit        {}",
        if report.audit.passed {
            "passed"
        } else {
            "FAILED"
        }
    );
    for check in &report.audit.checks {
        let _ = writeln!(
            out,
            "    {} {:<22} {}",
            if check.passed { "ok  " } else { "FAIL" },
            check.name,
            check.detail
        );
    }
    out
}
